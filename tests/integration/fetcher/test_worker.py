"""The fetcher worker end to end on the real stack: config + sync request in, messages out."""

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import pytest
from faststream.kafka import KafkaBroker

from crm_runtime.bus import publish
from crm_runtime.secrets import SecretBox
from crm_runtime.service import Runtime, running
from crm_schemas.config import AccountConfigured
from crm_schemas.sync import SyncKind, SyncRequested, SyncState, SyncStatusChanged
from fetcher.adapters.cursors import COLLECTION as CURSORS
from fetcher.app import build
from fetcher.idle import RESCAN_S
from fetcher.settings import FetcherSettings

from .conftest import ImapUser, message, read_topic, wait_committed, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
async def worker(settings: FetcherSettings, topics: None, db) -> AsyncIterator[Runtime]:
    """The worker as ``fetcher worker`` builds it, consuming this test's topics."""
    runtime = build(settings)
    await runtime.broker.start()
    yield runtime
    await runtime.broker.stop()
    await runtime.bulk.close()
    await runtime.mongo.close()


async def configure(runtime: Runtime, broker: KafkaBroker, account: AccountConfigured) -> None:
    """Publish the account's config and wait until the worker's projection has it."""
    await publish(broker, runtime.topics.config, account.account_id, account)
    async with asyncio.timeout(60):
        while True:
            if await runtime.config.account(account.account_id) is not None:
                return
            await asyncio.sleep(0.1)


def request(account: AccountConfigured) -> SyncRequested:
    return SyncRequested(
        account_id=account.account_id,
        workspace_id=account.workspace_id,
        kind=SyncKind.MAIL,
        reason="manual",
    )


def last_state(records: list[tuple[str, bytes]]) -> SyncState | None:
    statuses = [SyncStatusChanged.model_validate_json(v) for _, v in records]
    return statuses[-1].state if statuses else None


async def test_a_sync_request_publishes_the_new_messages(
    settings: FetcherSettings, worker: Runtime, broker: KafkaBroker, imap_user: ImapUser
):
    imap_user.append("INBOX", message(0, "worker"))
    account = imap_user.account(SecretBox(settings.secrets_key))
    await configure(worker, broker, account)

    await publish(broker, settings.topics.sync_requests, account.account_id, request(account))

    records = await wait_for(
        settings.kafka_bootstrap,
        settings.topics.sync_status,
        lambda r: last_state(r) is SyncState.UP_TO_DATE,
    )
    assert records
    assert len(await read_topic(settings.kafka_bootstrap, settings.topics.mail_raw)) == 1


async def test_a_wrong_password_fails_the_status_and_dead_letters_nothing(
    settings: FetcherSettings, worker: Runtime, broker: KafkaBroker, imap_user: ImapUser
):
    account = imap_user.account(SecretBox(settings.secrets_key), password="wrong-password")
    await configure(worker, broker, account)

    await publish(broker, settings.topics.sync_requests, account.account_id, request(account))

    records = await wait_for(
        settings.kafka_bootstrap,
        settings.topics.sync_status,
        lambda r: last_state(r) is SyncState.FAILING,
    )
    assert len(records) == 1  # tried once, not retried
    await wait_committed(
        settings.kafka_bootstrap, settings.group("fetcher"), settings.topics.sync_requests, 1
    )
    assert await read_topic(settings.kafka_bootstrap, settings.topics.dead_letter) == []


async def test_a_disconnected_account_is_not_synced(
    settings: FetcherSettings, worker: Runtime, broker: KafkaBroker, imap_user: ImapUser
):
    imap_user.append("INBOX", message(0, "gone"))
    account = imap_user.account(SecretBox(settings.secrets_key)).model_copy(
        update={"disconnected": True}
    )
    await configure(worker, broker, account)
    connected = imap_user.account(SecretBox(settings.secrets_key)).model_copy(
        update={"account_id": "other-account"}
    )
    await configure(worker, broker, connected)

    await publish(broker, settings.topics.sync_requests, account.account_id, request(account))
    await publish(broker, settings.topics.sync_requests, connected.account_id, request(connected))

    # Both requests handled (offsets are committed only after the handler returned).
    await wait_committed(
        settings.kafka_bootstrap, settings.group("fetcher"), settings.topics.sync_requests, 2
    )
    records = await read_topic(settings.kafka_bootstrap, settings.topics.sync_status)
    assert {key for key, _ in records} == {"other-account"}
    assert len(await read_topic(settings.kafka_bootstrap, settings.topics.mail_raw)) == 1


async def test_a_job_failing_unexpectedly_turns_the_status_failing_then_back_to_up_to_date(
    settings: FetcherSettings, worker: Runtime, broker: KafkaBroker, imap_user: ImapUser, db
):
    imap_user.append("INBOX", message(0, "stuck"))
    account = imap_user.account(SecretBox(settings.secrets_key))
    await configure(worker, broker, account)
    # A cursor no release of the fetcher wrote: reading it fails, as any unforeseen error
    # (a bug, a store answering nonsense) would, on every attempt of the job.
    cursor_id = f"{account.account_id}\x1fINBOX"
    await db[CURSORS].insert_one({"_id": cursor_id, "uidvalidity": "unreadable", "last_uid": 0})

    await publish(broker, settings.topics.sync_requests, account.account_id, request(account))

    records = await wait_for(
        settings.kafka_bootstrap,
        settings.topics.sync_status,
        lambda r: last_state(r) is SyncState.FAILING,
    )
    failing = SyncStatusChanged.model_validate_json(records[-1][1])
    assert failing.reason == "The last sync stopped on an unexpected error (ValueError)"
    assert "retried by itself" in (failing.remedy or "")

    await db[CURSORS].delete_one({"_id": cursor_id})  # the cause is gone
    await publish(broker, settings.topics.sync_requests, account.account_id, request(account))

    await wait_for(
        settings.kafka_bootstrap,
        settings.topics.sync_status,
        lambda r: last_state(r) is SyncState.UP_TO_DATE,
    )
    assert len(await read_topic(settings.kafka_bootstrap, settings.topics.mail_raw)) == 1


async def test_a_mailbox_connected_while_the_worker_runs_is_pushed_before_the_next_rescan(
    settings: FetcherSettings, topics: None, db, broker: KafkaBroker, imap_user: ImapUser
):
    """The worker watches a newly connected IMAP account as soon as its config arrives,
    not at the next periodic rescan (RESCAN_S): its new mail is pushed from the start."""
    runtime = build(settings)
    async with running(runtime):
        account = imap_user.account(SecretBox(settings.secrets_key))
        await configure(runtime, broker, account)
        configured = time.monotonic()
        for n in itertools.count():  # until the watch is up and sees one
            imap_user.append("INBOX", message(n, "pushed"))
            records = await read_topic(settings.kafka_bootstrap, settings.topics.sync_requests)
            requests = [SyncRequested.model_validate_json(v) for _, v in records]
            if any(r.reason == "push" and r.account_id == account.account_id for r in requests):
                break
            assert time.monotonic() - configured < RESCAN_S / 2, "no push before a rescan"
            await asyncio.sleep(1)
