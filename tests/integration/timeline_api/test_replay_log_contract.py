"""``ports.operations.ReplayLog``: on the real Kafka and in memory, by one contract. Ranges from a
time or the beginning, copies unchanged and only of the scope, a topic that dropped
records refusing what it lost, and the groups' committed offsets read back."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from crm_runtime.bus import ensure_topics
from crm_schemas.replay import MATCHER_REPLAY_GROUPS, SETTINGS_READER_GROUPS, ReplayKind
from tests.integration.timeline_api.test_replay_api import delete_oldest
from timeline_api.adapters.replay_log import KafkaReplayLog, compact
from timeline_api.adapters.replay_memory import InMemoryReplayLog
from timeline_api.domain.replay import ReplayScope, missing_history
from timeline_api.settings import TimelineSettings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
FAR = float("inf")


class Setup(Protocol):
    """What a test puts on the topics and reads back, for either implementation."""

    async def write(self, kind: ReplayKind, bodies: list[dict[str, Any]], at: datetime) -> None: ...
    async def lose_oldest(self, kind: ReplayKind) -> None: ...
    async def replayed(self, kind: ReplayKind) -> list[tuple[bytes, dict[str, Any]]]: ...
    async def commit(self, group: str, topic_kind: ReplayKind | None, offsets: dict[int, int]): ...


class MemorySetup:
    def __init__(self, log: InMemoryReplayLog) -> None:
        self.log = log

    async def write(self, kind: ReplayKind, bodies: list[dict[str, Any]], at: datetime) -> None:
        for n, body in enumerate(bodies):
            key = f"{body['item']}/{body['account_id']}".encode()
            self.log.raw[kind].append(n % 2, at, key, json.dumps(body).encode())

    async def lose_oldest(self, kind: ReplayKind) -> None:
        self.log.raw[kind].policy = "delete"
        for p in self.log.raw[kind].partitions:
            self.log.raw[kind].drop_before(p, 1)

    async def replayed(self, kind: ReplayKind) -> list[tuple[bytes, dict[str, Any]]]:
        topic = self.log.replayed[kind]
        return [(r.key, json.loads(r.value)) for rs in topic.partitions.values() for r in rs]

    async def commit(self, group: str, topic_kind: ReplayKind | None, offsets: dict[int, int]):
        if topic_kind is None:
            self.log.readers[SETTINGS_READER_GROUPS.index(group)] = offsets
        else:
            self.log.committed[topic_kind] = offsets


class KafkaSetup:
    def __init__(self, settings: TimelineSettings) -> None:
        self.settings = settings
        self.topics = settings.topics

    def raw(self, kind: ReplayKind) -> str:
        return self.topics.mail_raw if kind == "mail" else self.topics.calendar_raw

    async def write(self, kind: ReplayKind, bodies: list[dict[str, Any]], at: datetime) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for body in bodies:
                key = f"{body['item']}/{body['account_id']}".encode()
                ms = int(at.timestamp() * 1000)
                await producer.send_and_wait(
                    self.raw(kind), json.dumps(body).encode(), key=key, timestamp_ms=ms
                )
        finally:
            await producer.stop()

    async def lose_oldest(self, kind: ReplayKind) -> None:
        await delete_oldest(self.settings.kafka_bootstrap, self.raw(kind))

    async def replayed(self, kind: ReplayKind) -> list[tuple[bytes, dict[str, Any]]]:
        topic = self.topics.mail_replay if kind == "mail" else self.topics.calendar_replay
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(4)]
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            found: list[tuple[bytes, dict[str, Any]]] = []
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                batch = await consumer.getmany(timeout_ms=500)
                found += [(r.key, json.loads(r.value)) for rs in batch.values() for r in rs]
            return found
        finally:
            await consumer.stop()

    async def commit(self, group: str, topic_kind: ReplayKind | None, offsets: dict[int, int]):
        topic = (
            self.topics.config
            if topic_kind is None
            else self.topics.mail_replay
            if topic_kind == "mail"
            else self.topics.calendar_replay
        )
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=self.settings.group(group),
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, p) for p in offsets])
            await consumer.commit({TopicPartition(topic, p): o for p, o in offsets.items()})
        finally:
            await consumer.stop()


@pytest.fixture(params=["memory", "kafka"])
async def log(
    request: pytest.FixtureRequest, settings: TimelineSettings
) -> AsyncIterator[tuple[Any, Setup]]:
    if request.param == "memory":
        memory = InMemoryReplayLog()
        yield memory, MemorySetup(memory)
        return
    topics = settings.topics
    await ensure_topics(settings.kafka_bootstrap, topics.all(), 4, topics.compacted())
    yield KafkaReplayLog(settings), KafkaSetup(settings)


def bodies(workspace: str, n: int, first: int = 0) -> list[dict[str, Any]]:
    return [
        {"item": f"i{k}", "workspace_id": workspace, "account_id": f"a-{workspace}", "n": k}
        for k in range(first, first + n)
    ]


async def test_a_workspaces_records_are_copied_unchanged_and_only_its_own(log: Any) -> None:
    replay_log, setup = log
    await setup.write("mail", bodies("ws-1", 6) + bodies("ws-2", 3, first=6), T0)

    spans = await replay_log.bounds("mail", None)
    assert sum(end - first for first, end in spans.values()) == 9
    copied = await replay_log.copy("mail", spans, ReplayScope("ws-1"), until=FAR)

    found = await setup.replayed("mail")
    assert sorted(b["n"] for _, b in found) == [0, 1, 2, 3, 4, 5]
    assert all(key == f"{b['item']}/{b['account_id']}".encode() for key, b in found)
    assert copied.copied == 6
    assert sum(end - first for first, end in copied.written.values()) == 6
    assert all(copied.next[p] >= end for p, (_, end) in spans.items())
    assert await setup.replayed("calendar") == []


async def test_a_range_since_a_time_starts_at_what_was_written_then(log: Any) -> None:
    replay_log, setup = log
    await setup.write("calendar", bodies("ws-1", 4), T0)
    await setup.write("calendar", bodies("ws-1", 2, first=4), T0 + timedelta(minutes=30))

    spans = await replay_log.bounds("calendar", T0 + timedelta(minutes=10))
    await replay_log.copy("calendar", spans, ReplayScope(), until=FAR)

    assert sorted(b["n"] for _, b in await setup.replayed("calendar")) == [4, 5]


async def test_a_compacted_topic_holds_everything_and_one_that_dropped_records_does_not(
    log: Any,
) -> None:
    replay_log, setup = log
    await setup.write("mail", bodies("ws-1", 8), T0)
    topic, policy, starts = await replay_log.log_starts("mail")
    assert policy == "compact"
    assert missing_history(topic, policy, starts, None) is None

    await setup.lose_oldest("mail")

    topic, policy, starts = await replay_log.log_starts("mail")
    refused = missing_history(topic, policy, starts, T0 - timedelta(days=1))
    assert refused is not None
    assert topic in refused
    assert missing_history(topic, policy, starts, T0 + timedelta(minutes=1)) is None


async def test_the_groups_committed_offsets_are_read_back(log: Any) -> None:
    replay_log, setup = log
    await setup.commit(MATCHER_REPLAY_GROUPS["mail"], "mail", {0: 3, 1: 0})
    await setup.commit(SETTINGS_READER_GROUPS[1], None, {0: 2})

    assert (await replay_log.processed("mail")).get(0) == 3
    assert (await replay_log.processed("calendar")) == {}
    readers = await replay_log.settings_readers()
    assert len(readers) == len(SETTINGS_READER_GROUPS)
    assert readers[1].get(0) == 2
    assert isinstance(await replay_log.settings_end(), dict)


async def test_existing_topics_are_made_compacted_keeping_their_own_settings(
    settings: TimelineSettings,
) -> None:
    topics = settings.topics
    await ensure_topics(settings.kafka_bootstrap, topics.all(), 4)  # as before compaction
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()

    async def configs(topic: str) -> dict[str, str]:
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        return {e[0]: e[1] for e in described[0].resources[0][4]}

    async def settled(check: Any) -> None:  # the controller applies a change a moment later
        deadline = time.monotonic() + 20
        while not await check():
            assert time.monotonic() < deadline, "the topics' settings never changed"
            await asyncio.sleep(0.2)

    try:
        own = {"retention.ms": "123456789"}
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topics.mail_raw, own)])
        await settled(lambda: _has(configs(topics.mail_raw), "retention.ms", "123456789"))
        assert sorted(await compact(settings.kafka_bootstrap, topics.compacted())) == sorted(
            topics.compacted()
        )
        for topic in topics.compacted():
            await settled(lambda t=topic: _has(configs(t), "cleanup.policy", "compact"))
        assert await compact(settings.kafka_bootstrap, topics.compacted()) == []
        assert (await configs(topics.mail_raw))["retention.ms"] == "123456789"
    finally:
        await admin.close()


async def _has(configs: Any, name: str, value: str) -> bool:
    return bool((await configs).get(name) == value)
