"""Queues a sync job for every connected account, every few minutes, and on demand."""

import asyncio
import logging
from collections.abc import Iterable
from functools import partial
from typing import Literal

from faststream.kafka import KafkaBroker

from crm_runtime.bus import publish
from crm_runtime.config_store import ConfigStore
from crm_runtime.mongo import connect
from crm_runtime.service import Runtime, build_runtime, follow_config, run
from crm_schemas.config import AccountConfigured
from crm_schemas.sync import SyncKind, SyncRequested
from fetcher.settings import FetcherSettings

log = logging.getLogger(__name__)


def scheduled_requests(
    accounts: Iterable[AccountConfigured], reason: Literal["schedule", "manual"] = "schedule"
) -> list[SyncRequested]:
    """One mail job per account with IMAP or OAuth (Google, Microsoft) and one calendar
    job per account with CalDAV or OAuth."""
    requests: list[SyncRequested] = []
    for account in accounts:
        if account.disconnected:
            continue
        kinds = [SyncKind.MAIL] if account.imap or account.oauth else []
        kinds += [SyncKind.CALENDAR] if account.caldav or account.oauth else []
        requests.extend(
            SyncRequested(
                account_id=account.account_id,
                workspace_id=account.workspace_id,
                kind=kind,
                reason=reason,
            )
            for kind in kinds
        )
    return requests


async def schedule_once(runtime: Runtime) -> int:
    """Queue one job per connected account and kind; returns how many were queued."""
    requests = scheduled_requests(await runtime.config.accounts())
    for request in requests:
        await publish(runtime.broker, runtime.topics.sync_requests, request.account_id, request)
    return len(requests)


async def _every(runtime: Runtime, interval_s: float) -> None:
    while True:
        queued = await schedule_once(runtime)
        log.info("sync jobs queued", extra={"count": queued})
        await asyncio.sleep(interval_s)


def run_scheduler(settings: FetcherSettings) -> None:
    """Run the scheduler until SIGINT or SIGTERM."""
    runtime = build_runtime("fetcher.scheduler", settings)
    follow_config(runtime)
    run(runtime, alongside=partial(_every, runtime, settings.schedule_interval_s))


async def request_sync(
    settings: FetcherSettings, account_id: str, kind: SyncKind | None = None
) -> list[SyncRequested]:
    """Queue a job for one account now (both kinds unless ``kind`` says which)."""
    mongo = connect(settings)
    try:
        account = await ConfigStore(mongo[settings.mongo_db]).account(account_id)
    finally:
        await mongo.close()
    if account is None:
        raise LookupError(f"account {account_id} is not in the fetcher's config projection")
    requests = [
        r for r in scheduled_requests([account], "manual") if kind is None or r.kind == kind
    ]
    broker = KafkaBroker(settings.kafka_bootstrap, acks="all", enable_idempotence=True)
    await broker.connect()
    try:
        for request in requests:
            await publish(broker, settings.topics.sync_requests, account_id, request)
    finally:
        await broker.stop()
    return requests
