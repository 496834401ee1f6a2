"""Many mailboxes and several fetcher workers on the local stack: connecting accounts
without the API, queueing their jobs, and reading what each worker logged."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker
from localsystem import LocalSystem
from pydantic import SecretStr

from crm_runtime.bus import ensure_topics, publish
from crm_runtime.service import TOPIC_PARTITIONS
from crm_schemas.sync import SyncKind, SyncRequested
from crm_schemas.topics import Topics
from tests.e2e.harness import timeline_settings

DOMAIN = "fleet.test"


@dataclass(frozen=True)
class Mailbox:
    """A connected account and its Dovecot user."""

    account_id: str
    workspace_id: str
    email: str


async def topics_with(system: LocalSystem, sync_partitions: int) -> None:
    """The deployment's topics, the sync requests with ``sync_partitions`` partitions
    (created first: the services leave existing topics as they are)."""
    topics = Topics(system.prefix)
    await ensure_topics(system.kafka_bootstrap, (topics.sync_requests,), sync_partitions)
    await ensure_topics(system.kafka_bootstrap, topics.all(), TOPIC_PARTITIONS)


async def workspace(system: LocalSystem) -> str:
    """A workspace of its own (crm-admin, no API needed)."""
    from timeline_api.entrypoints.admin import create_workspace

    return await create_workspace(timeline_settings(system), "Fleet", [DOMAIN])


async def connect(system: LocalSystem, stack: Any, workspace_id: str, email: str) -> Mailbox:
    """Connect a Dovecot mailbox as crm-admin does (it announces the account on the config
    topic); the account id is deterministic (workspace, address)."""
    from timeline_api.entrypoints.admin import connect_account

    account_id = await connect_account(
        timeline_settings(system),
        workspace_id=workspace_id,
        email=email,
        imap_host=stack.imap_host,
        imap_port=stack.imap_port,
        imap_tls="none",
        username=email,
        password=SecretStr(stack.imap_test_password),
    )
    return Mailbox(account_id, workspace_id, email)


async def request_mail_syncs(system: LocalSystem, mailboxes: list[Mailbox]) -> None:
    """Queue one mail job per mailbox, as the scheduler does."""
    broker = KafkaBroker(system.kafka_bootstrap, acks="all", enable_idempotence=True)
    await broker.connect()
    try:
        topic = Topics(system.prefix).sync_requests
        for box in mailboxes:
            request = SyncRequested(
                account_id=box.account_id,
                workspace_id=box.workspace_id,
                kind=SyncKind.MAIL,
                reason="manual",
            )
            await publish(broker, topic, box.account_id, request)
    finally:
        await broker.stop()


def log_entries(system: LocalSystem, name: str) -> Iterator[dict[str, Any]]:
    """A service's JSON log lines, parsed."""
    path = Path(system.log_dir) / f"{name}.log"
    if not path.exists():
        return
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            entry: dict[str, Any] = json.loads(line)
            yield entry


def at(entry: dict[str, Any]) -> float:
    """A log entry's time, in seconds since the epoch."""
    return datetime.fromisoformat(entry["ts"]).timestamp()


def last(system: LocalSystem, name: str, message: str) -> dict[str, Any] | None:
    """The newest log entry of that message, if any."""
    found = None
    for entry in log_entries(system, name):
        if entry.get("msg") == message:
            found = entry
    return found
