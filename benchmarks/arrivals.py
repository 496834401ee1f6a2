"""When each new message reached the timeline, watched on Kafka at no cost to the database:
the projection's input records on ``timeline.messages`` say where each message landed, and
its consumer group's committed offsets say when it was stored (the projection commits a
poll once its writes are done, docs/adr/0004)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from crm_schemas import groups
from crm_schemas.ids import message_id_key


class Arrivals:
    """Messages awaited on the timeline, from just before each was added to the mailbox
    (``expect``) until the projection had stored it (``stored``), followed by a task of
    its own while the context is open."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self._topic = f"{prefix}.timeline.messages.v1"
        self._group = f"{prefix}.{groups.timeline('messages')}"
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._landed: dict[TopicPartition, list[tuple[int, str]]] = {}
        self.expected: dict[str, float] = {}  # message key -> when it was added (monotonic)
        self.stored: dict[str, float] = {}  # message key -> seconds from added to stored
        self._following: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Arrivals:
        """Start reading the topic from its end: what is on it already is not awaited."""
        await self._admin.start()
        await self._consumer.start()
        await self._consumer._client.force_metadata_update()
        numbers = self._consumer.partitions_for_topic(self._topic) or set()
        partitions = [TopicPartition(self._topic, n) for n in numbers]
        if not partitions:
            raise RuntimeError(f"{self._topic} has no partitions: nothing was imported yet")
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        self._following = asyncio.create_task(self._follow())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._following is not None:
            self._following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._following
        await self._consumer.stop()
        await self._admin.close()

    def expect(self, message_id: str) -> None:
        """A message is about to be added to the mailbox: its clock starts now."""
        self.expected[message_id_key(message_id)] = time.monotonic()

    @property
    def missing(self) -> int:
        """Messages expected and not stored yet; fails if following the topic failed."""
        if self._following is not None and self._following.done():
            self._following.result()  # raises what stopped it
            raise RuntimeError("following the timeline's topic stopped")
        return len(self.expected) - len(self.stored)

    def latencies(self, message_ids: list[str]) -> list[float]:
        """Seconds from added to stored of those of the messages that were stored."""
        keys = (message_id_key(m) for m in message_ids)
        return [self.stored[k] for k in keys if k in self.stored]

    async def _follow(self) -> None:
        """Until cancelled: note where each expected message lands on the topic, and when
        the projection's group has committed past it (checked about five times a second)."""
        while True:
            polled = await self._consumer.getmany(timeout_ms=200)
            for partition, records in polled.items():
                for record in records:
                    key = _message_key(record.value)
                    if key in self.expected and key not in self.stored:
                        self._landed.setdefault(partition, []).append((record.offset, key))
            if any(self._landed.values()):
                await self._committed_past()

    async def _committed_past(self) -> None:
        committed = await self._admin.list_consumer_group_offsets(
            self._group, partitions=list(self._landed)
        )
        now = time.monotonic()
        for partition, waiting in self._landed.items():
            meta = committed.get(partition)
            upto = meta.offset if meta is not None else -1
            for offset, key in waiting:
                if offset < upto:
                    self.stored.setdefault(key, now - self.expected[key])
            self._landed[partition] = [(o, k) for o, k in waiting if o >= upto]


def _message_key(value: bytes | None) -> str:
    """The Message-ID key of a ``TimelineMessage`` record ('' for the topic's other events)."""
    event = json.loads(value or b"{}")
    message = event.get("message") if isinstance(event, dict) else None
    return message_id_key(message["message_id"]) if isinstance(message, dict) else ""
