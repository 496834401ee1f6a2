"""``ports.operations.ReplayLog`` on Kafka: the raw topics' ranges and retention, copying
records into the replay topics unchanged, and the consumer groups' committed offsets
(docs/adr/0022).

Every call opens the clients it needs and closes them: a replay asks rarely, and a job
runs in slices of seconds.
"""

import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from crm_runtime.settings import ServiceSettings
from crm_schemas.replay import MATCHER_REPLAY_GROUPS, SETTINGS_READER_GROUPS
from timeline_api.domain.replay import LogStart, ReplayKind, ReplayScope, Span
from timeline_api.ports.operations import Copied

FETCH_MAX_RECORDS = 500
EARLIEST_WAIT_S = 5.0


class KafkaReplayLog:
    """The replay's view of Kafka, under one deployment's topic and group prefixes."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._bootstrap = settings.kafka_bootstrap
        self._topics = settings.topics
        self._group = settings.group

    def _raw(self, kind: ReplayKind) -> str:
        return self._topics.mail_raw if kind == "mail" else self._topics.calendar_raw

    def _replay(self, kind: ReplayKind) -> str:
        return self._topics.mail_replay if kind == "mail" else self._topics.calendar_replay

    async def log_starts(self, kind: ReplayKind) -> tuple[str, str, list[LogStart]]:
        """The raw topic's name, its cleanup policy, and where each partition begins now."""
        topic = self._raw(kind)
        async with _admin(self._bootstrap) as admin:
            policy = await _cleanup_policy(admin, topic)
        async with _consumer(self._bootstrap) as consumer:
            partitions = await _partitions(self._bootstrap, topic)
            starts = await consumer.beginning_offsets(partitions)
            earliest = await _first_times(consumer, [tp for tp, at in starts.items() if at > 0])
        return (
            topic,
            policy,
            [LogStart(tp.partition, at, earliest.get(tp.partition)) for tp, at in starts.items()],
        )

    async def bounds(self, kind: ReplayKind, since: datetime | None) -> dict[int, Span]:
        """Per partition: from the first offset at or after ``since`` to the end now."""
        async with _consumer(self._bootstrap) as consumer:
            partitions = await _partitions(self._bootstrap, self._raw(kind))
            ends = await consumer.end_offsets(partitions)
            if since is None:
                starts = await consumer.beginning_offsets(partitions)
            else:
                ms = int(since.timestamp() * 1000)
                found = await consumer.offsets_for_times({tp: ms for tp in partitions})
                starts = {tp: ends[tp] if at is None else at.offset for tp, at in found.items()}
        return {tp.partition: (min(starts[tp], ends[tp]), ends[tp]) for tp in partitions}

    async def settings_end(self) -> dict[int, int]:
        """The config topic's end offsets now."""
        async with _consumer(self._bootstrap) as consumer:
            partitions = await _partitions(self._bootstrap, self._topics.config)
            ends = await consumer.end_offsets(partitions)
        return {tp.partition: at for tp, at in ends.items()}

    async def settings_readers(self) -> list[dict[int, int]]:
        """What the matcher's and the enricher's config groups have committed."""
        return [
            await self._committed(self._group(group), self._topics.config)
            for group in SETTINGS_READER_GROUPS
        ]

    async def processed(self, kind: ReplayKind) -> dict[int, int]:
        """What the matcher's replay group has committed of the replay topic."""
        return await self._committed(self._group(MATCHER_REPLAY_GROUPS[kind]), self._replay(kind))

    async def _committed(self, group: str, topic: str) -> dict[int, int]:
        async with _admin(self._bootstrap) as admin:
            offsets = await admin.list_consumer_group_offsets(group)
        return {
            tp.partition: meta.offset
            for tp, meta in offsets.items()
            if tp.topic == topic and meta is not None and meta.offset >= 0
        }

    async def copy(
        self, kind: ReplayKind, spans: Mapping[int, Span], scope: ReplayScope, until: float
    ) -> Copied:
        """Copy the records of ``spans`` that ``scope`` selects, unchanged (key, value,
        headers), into the replay topic; each fetch's copies acknowledged by Kafka before
        reading stands past them. Until every span is read, or ``until``."""
        source = self._raw(kind)
        async with _consumer(self._bootstrap) as consumer, _producer(self._bootstrap) as producer:
            copy = _Copy(consumer, producer, self._replay(kind), scope, spans)
            partitions = {p: TopicPartition(source, p) for p in spans}
            consumer.assign(list(partitions.values()))
            for p, tp in partitions.items():
                consumer.seek(tp, spans[p][0])
            left = dict(partitions)
            while left and time.monotonic() < until:
                fetched = await consumer.getmany(
                    *left.values(), timeout_ms=500, max_records=FETCH_MAX_RECORDS
                )
                await copy.fetched(fetched)
                for p, tp in list(left.items()):
                    if await _read_to(consumer, tp, spans[p][1]):
                        copy.next[p] = max(copy.next[p], spans[p][1])
                        del left[p]
        return Copied(next=copy.next, copied=copy.copied, written=copy.written)


class _Copy:
    """One copying run: what it read, copied and wrote so far."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        producer: Any,
        target: str,
        scope: ReplayScope,
        spans: Mapping[int, Span],
    ) -> None:
        self._producer = producer
        self._target = target
        self._scope = scope
        self._spans = spans
        self.next = {p: first for p, (first, _) in spans.items()}
        self.copied = 0
        self.written: dict[int, Span] = {}

    async def fetched(self, fetched: Mapping[TopicPartition, list[Any]]) -> None:
        """Copy what a fetch brought within the spans; return once Kafka has the copies."""
        acks = []
        read: dict[int, int] = {}
        for tp, records in fetched.items():
            end = self._spans[tp.partition][1]
            for record in records:
                if record.offset >= end:
                    break
                if record.value is not None and _selects(self._scope, record.value):
                    headers = list(record.headers or ())
                    send = self._producer.send(
                        self._target, record.value, key=record.key, headers=headers
                    )
                    acks.append(await send)
                read[tp.partition] = record.offset + 1
        for ack in acks:
            meta = await ack
            first, end = self.written.get(meta.partition, (meta.offset, meta.offset + 1))
            self.written[meta.partition] = (min(first, meta.offset), max(end, meta.offset + 1))
        self.copied += len(acks)
        self.next |= read


def _selects(scope: ReplayScope, value: bytes) -> bool:
    """Whether the record's item is the replay's (every record, for a replay of all)."""
    if scope.workspace_id is None and scope.account_id is None:
        return True
    try:
        body = json.loads(value)
    except ValueError:
        return False  # not a raw item: the live consumer dead-lettered it already
    return isinstance(body, dict) and scope.selects(
        body.get("workspace_id"), body.get("account_id")
    )


async def _read_to(consumer: AIOKafkaConsumer, tp: TopicPartition, end: int) -> bool:
    """Whether the partition is read up to ``end``: its position is there, or at the end
    of what it holds (a compacted topic may hold none of the offsets up to ``end``)."""
    position = await consumer.position(tp)
    highwater = consumer.highwater(tp)
    return bool(position >= end or (highwater is not None and position >= highwater))


async def _partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    """The topic's partitions (none when it does not exist)."""
    async with _admin(bootstrap) as admin:
        described = await admin.describe_topics([topic])
    found = [p["partition"] for d in described if not d["error_code"] for p in d["partitions"]]
    return [TopicPartition(topic, p) for p in sorted(found)]


async def _cleanup_policy(admin: AIOKafkaAdminClient, topic: str) -> str:
    described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    for resource in described[0].resources:
        for entry in resource[4]:
            if entry[0] == "cleanup.policy":
                return str(entry[1])
    return "delete"


async def _first_times(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
) -> dict[int, datetime]:
    """The time of the first record each partition holds now (read, then forgotten)."""
    if not partitions:
        return {}
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    found: dict[int, datetime] = {}
    deadline = time.monotonic() + EARLIEST_WAIT_S
    while len(found) < len(partitions) and time.monotonic() < deadline:
        fetched = await consumer.getmany(timeout_ms=500, max_records=len(partitions))
        for tp, records in fetched.items():
            if records and tp.partition not in found:
                found[tp.partition] = datetime.fromtimestamp(records[0].timestamp / 1000, UTC)
    return found


@asynccontextmanager
async def _admin(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


@asynccontextmanager
async def _consumer(bootstrap: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


@asynccontextmanager
async def _producer(bootstrap: str) -> AsyncIterator[Any]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


DYNAMIC_TOPIC_CONFIG = 1  # a describe_configs entry's config_source: set on the topic itself


async def compact(bootstrap: str, topics: tuple[str, ...]) -> list[str]:
    """Set ``cleanup.policy=compact`` on those of ``topics`` that exist and are not
    compacted yet, keeping every other setting made on each; the topics changed."""
    changed = []
    async with _admin(bootstrap) as admin:
        existing = set(await admin.list_topics())
        for topic in (t for t in topics if t in existing):
            described = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic)]
            )
            entries = described[0].resources[0][4]
            policy = next((str(e[1]) for e in entries if e[0] == "cleanup.policy"), "delete")
            if policy == "compact":
                continue
            own = {str(e[0]): e[1] for e in entries if e[3] == DYNAMIC_TOPIC_CONFIG}
            configs = own | {"cleanup.policy": "compact"}
            await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs)])
            changed.append(topic)
    return changed
