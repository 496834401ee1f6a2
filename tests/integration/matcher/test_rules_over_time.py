"""The matcher on the real Kafka and FerretDB: settings changes and replays of mail.raw."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker

from crm_runtime.bus import ensure_topics, publish
from crm_runtime.service import TOPIC_PARTITIONS, Runtime
from crm_schemas.base import Address
from crm_schemas.config import AccountConfigured, MailSettings, WorkspaceConfigured
from crm_schemas.mail import FolderRole, RawMessage
from matcher.app import build
from matcher.settings import MatcherSettings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

WS, ACCOUNT = "ws-rules", "acc-rules"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def settings_for(isolated: dict[str, str], group_prefix: str) -> MatcherSettings:
    return MatcherSettings(
        kafka_bootstrap=isolated["kafka_bootstrap"],
        mongo_url=isolated["mongo_url"],
        mongo_db=f"{isolated['mongo_db_prefix']}_matcher",
        topic_prefix=isolated["topic_prefix"],
        group_prefix=group_prefix,
        handler_attempts=2,
        retry_max_wait_s=0.2,
    )


def account(blocklist: tuple[str, ...], version: int) -> AccountConfigured:
    return AccountConfigured(
        account_id=ACCOUNT,
        workspace_id=WS,
        owner_member_id="m-1",
        email="alice@acme.test",
        mail=MailSettings(blocklist=blocklist),
        updated_at=T0 + timedelta(minutes=version),
    )


def mail(n: int) -> RawMessage:
    return RawMessage.model_validate(
        {
            "item_id": f"item-{n}",
            "workspace_id": WS,
            "account_id": ACCOUNT,
            "provider": "imap",
            "provider_ref": f"INBOX/1/{n}",
            "folder": "INBOX",
            "folder_role": FolderRole.INBOX,
            "message_id": f"m{n}@client.test",
            "sent_at": T0 + timedelta(hours=n),
            "from": (Address(email="jane@client.test", name="Jane"),),
            "to": (Address(email="alice@acme.test"),),
        }
    )


@pytest.fixture
async def producer(isolated: dict[str, str]) -> AsyncIterator[KafkaBroker]:
    broker = KafkaBroker(isolated["kafka_bootstrap"])
    await broker.connect()
    yield broker
    await broker.stop()


async def start(settings: MatcherSettings) -> Runtime:
    runtime = build(settings)
    await ensure_topics(settings.kafka_bootstrap, runtime.topics.all(), TOPIC_PARTITIONS)
    await runtime.broker.start()
    return runtime


async def outcomes(runtime: Runtime, ready: Callable[[dict[str, list[str]]], bool]) -> Any:
    """Item ids on mail.matched (kept, or withdrawn: ``removed``) and on dropped (with their
    reasons), polled to a deadline."""
    topics = runtime.topics
    consumer = AIOKafkaConsumer(
        topics.mail_matched,
        topics.dropped,
        bootstrap_servers=runtime.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    seen: dict[str, list[str]] = {"matched": [], "removed": [], "dropped": []}
    deadline = time.monotonic() + 45
    try:
        while not ready(seen):
            assert time.monotonic() < deadline, f"not reached; seen {seen}"
            batch = await consumer.getmany(timeout_ms=300)
            for tp, records in batch.items():
                for record in records:
                    body = json.loads(record.value)
                    if tp.topic == topics.mail_matched and body.get("type") == "message_removed":
                        seen["removed"].append(body["item_id"])
                    elif tp.topic == topics.mail_matched:
                        seen["matched"].append(body["message"]["item_id"])
                    else:
                        seen["dropped"].append(f"{body['item_id']}:{body['reason']}")
    finally:
        await consumer.stop()
    return seen


async def test_a_settings_change_applies_after_it_and_a_replay_applies_it_to_history(
    isolated: dict[str, str], producer: KafkaBroker
) -> None:
    live = await start(settings_for(isolated, isolated["group_prefix"]))
    topics = live.topics
    try:
        await publish(producer, topics.config, WS, WorkspaceConfigured(
            workspace_id=WS, name="Acme", domains=("acme.test",), updated_at=T0
        ))  # fmt: skip
        await publish(producer, topics.config, ACCOUNT, account((), version=0))
        await publish(producer, topics.mail_raw, "item-1", mail(1))
        before = await outcomes(live, lambda seen: "item-1" in seen["matched"])
        assert before["dropped"] == []

        # The owner blocks the client's domain; once the matcher has the new settings...
        await publish(producer, topics.config, ACCOUNT, account(("client.test",), version=1))
        deadline = time.monotonic() + 30
        while (stored := await live.config.account(ACCOUNT)) is None or not stored.mail.blocklist:
            assert time.monotonic() < deadline, "the settings change never arrived"
            await asyncio.sleep(0.1)
        # ...every message processed after it follows it; the earlier one is left as it was.
        await publish(producer, topics.mail_raw, "item-2", mail(2))
        after = await outcomes(live, lambda seen: "item-2:blocked" in seen["dropped"])
        assert after["matched"] == ["item-1"]
    finally:
        await live.broker.stop()
        await live.bulk.close()

    # A replay: a fresh consumer group reads mail.raw from the start with today's rules.
    replay = await start(settings_for(isolated, f"{isolated['group_prefix']}-replay"))
    try:
        replayed = await outcomes(
            replay, lambda seen: seen["dropped"].count("item-2:blocked") == 2
            and "item-1:blocked" in seen["dropped"],
        )  # fmt: skip
        assert replayed["matched"] == ["item-1"], "the replay kept a message the rules now drop"
        assert sorted(set(replayed["dropped"])) == ["item-1:blocked", "item-2:blocked"]
        # the copy synced before the change is withdrawn from the timelines
        assert "item-1" in replayed["removed"]
    finally:
        await replay.broker.stop()
        await replay.bulk.close()
        await replay.mongo.drop_database(replay.settings.mongo_db)
        await replay.mongo.close()
        await live.mongo.close()
