"""At-least-once consumption, made structural.

Every subscriber goes through ``subscribe``: the payload is validated against its
contract, the handler is tried a bounded number of times, and only then is the offset
committed. A payload that does not match its contract, or that keeps failing, goes to the
dead-letter topic with its error before its offset is committed; if even that publish
fails, the offset is not committed and Kafka delivers the message again.

The commit is made by the handler itself, while the records are still held
(``crm_runtime.health``): a rebalance or a SIGTERM waits for held records, so it can never
fall between a poll's outputs and its commit.

With ``batch=True`` a whole poll is processed before one commit: records with the same
partition and key run in order, different keys run concurrently. That is safe because
every topic is keyed by the id its consumers write (docs/adr/0007). If a batch cannot be
finished, every partition it touched is rewound to its first record, so nothing after a
failed record is committed by a later batch.

A subscriber may also give a ``many`` handler: it gets every valid event of a poll at
once, so it can read and write in bulk (one round trip per batch instead of several per
message). If it raises, the poll is processed again one record at a time by the ordinary
handler, with its retries and dead-lettering; every write being an idempotent upsert by
id, the work the failed bulk attempt did is simply done again.
"""

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import AckStatus
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Tracer, TracerProvider
from pydantic import TypeAdapter, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from crm_runtime.bus import publish
from crm_runtime.settings import ServiceSettings
from crm_schemas.outcomes import DeadLetter

T = TypeVar("T")
log = logging.getLogger(__name__)
Record: TypeAlias = Any  # aiokafka.ConsumerRecord; aiokafka ships no type hints
ManyHandler: TypeAlias = Callable[[list[Any]], Awaitable[None]]


class RetryLater(Exception):  # noqa: N818 - reads as the instruction it is
    """The handler cannot do its work yet (e.g. a config it needs has not arrived).

    Retried for up to ``retry_later_max_s`` rather than ``handler_attempts`` times: the
    config topic may still be catching up after a deployment or during a replay.
    """


def _stop(settings: ServiceSettings) -> Callable[[RetryCallState], bool]:
    """Stop after the attempts budget, or for RetryLater after the waiting budget."""
    attempts = stop_after_attempt(settings.handler_attempts)
    waited = stop_after_delay(settings.retry_later_max_s)

    def stop(state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome is not None else None
        return waited(state) if isinstance(error, RetryLater) else attempts(state)

    return stop


class _Delivery:
    """Validates, retries and dead-letters one record for one handler."""

    def __init__(
        self,
        broker: KafkaBroker,
        settings: ServiceSettings,
        contract: Any,
        handler: Callable[[Any], Awaitable[None]],
        tracer: Tracer,
    ) -> None:
        self._broker = broker
        self._settings = settings
        self._adapter: TypeAdapter[Any] = TypeAdapter(contract)
        self._handler = handler
        self._tracer = tracer
        self.name = getattr(handler, "__qualname__", repr(handler))

    async def parse(self, record: Record) -> Any | None:
        """The record's event, or None once a record that breaks its contract is
        dead-lettered."""
        try:
            return self._adapter.validate_json(record.value or b"")
        except ValidationError as invalid:
            await self._dead_letter(record, invalid, attempts=1)
            return None

    async def one(self, record: Record) -> None:
        """Process one record; return once it is handled or dead-lettered."""
        event = await self.parse(record)
        if event is None:
            return
        try:
            async for attempt in AsyncRetrying(
                stop=_stop(self._settings),
                wait=wait_exponential(multiplier=0.2, max=self._settings.retry_max_wait_s),
                reraise=False,
            ):
                with attempt:
                    await self._handler(event)
        except RetryError as failed:
            cause = failed.last_attempt.exception() or failed
            log.warning(
                "handler failed, dead-lettering",
                extra={"handler": self.name, "topic": record.topic, "error": repr(cause)},
            )
            await self._dead_letter(record, cause, failed.last_attempt.attempt_number)

    async def traced(self, record: Record) -> None:
        """``one`` inside a span that continues the trace the record's headers carry."""
        with self._tracer.start_as_current_span(
            f"{record.topic} process",
            context=propagate.extract(_carrier(record)),
            kind=SpanKind.CONSUMER,
            attributes={"messaging.kafka.partition": record.partition},
        ):
            await self.one(record)

    async def in_order(self, records: list[Record]) -> None:
        """Records of one partition and key, one after the other."""
        for record in records:
            await self.traced(record)

    async def one_by_one(self, records: list[Record]) -> None:
        """A poll concurrently across keys, in order within a key."""
        async with asyncio.TaskGroup() as tasks:
            for same_key in _by_partition_and_key(records):
                tasks.create_task(self.in_order(same_key))

    async def all_at_once(self, records: list[Record], many: ManyHandler) -> None:
        """A poll through the bulk handler; one record at a time if that fails.

        The span continues the first record's trace and links every record's, as
        OpenTelemetry's messaging conventions do for batches.
        """
        valid: list[tuple[Record, Any]] = []
        for record in records:
            event = await self.parse(record)
            if event is not None:
                valid.append((record, event))
        if not valid:
            return
        contexts = [propagate.extract(_carrier(record)) for record, _ in valid]
        links = [
            trace.Link(c)
            for c in (trace.get_current_span(x).get_span_context() for x in contexts)
            if c.is_valid
        ]
        try:
            # A batch that must wait (a config on its way) waits as a whole, in bulk.
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(RetryLater),
                stop=stop_after_delay(self._settings.retry_later_max_s),
                wait=wait_exponential(multiplier=0.2, max=self._settings.retry_max_wait_s),
                reraise=True,
            ):
                with (
                    attempt,
                    self._tracer.start_as_current_span(
                        f"{valid[0][0].topic} process batch",
                        context=contexts[0],
                        kind=SpanKind.CONSUMER,
                        links=links,
                        attributes={"messaging.batch.message_count": len(valid)},
                    ),
                ):
                    await many([event for _, event in valid])
        except Exception as error:  # the per-record path below retries and dead-letters
            log.warning(
                "batch failed, processing it one record at a time",
                extra={"handler": self.name, "topic": valid[0][0].topic, "error": repr(error)},
            )
            await self.one_by_one([record for record, _ in valid])

    async def _dead_letter(self, record: Record, error: BaseException, attempts: int) -> None:
        body = record.value or b""
        try:
            payload, encoding = body.decode(), "utf-8"
        except UnicodeDecodeError:
            payload, encoding = base64.b64encode(body).decode(), "base64"
        key = record.key.decode(errors="replace") if isinstance(record.key, bytes) else None
        letter = DeadLetter(
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=key,
            handler=self.name,
            error_type=type(error).__name__,
            error=str(error)[:4000],
            attempts=attempts,
            payload=payload,
            payload_encoding=encoding,
        )
        await publish(self._broker, self._settings.topics.dead_letter, key or "", letter)


def subscribe(
    broker: KafkaBroker,
    settings: ServiceSettings,
    *,
    topic: str,
    group: str,
    contract: Any,
    handler: Callable[[T], Awaitable[None]],
    batch: bool = False,
    many: ManyHandler | None = None,
    tracer_provider: TracerProvider | None = None,
    listener: ConsumerRebalanceListener | None = None,
) -> None:
    """Consume ``topic`` in consumer group ``group``, at least once, dead-lettering failures.

    ``batch=True`` processes each poll concurrently across keys and commits once per poll;
    keep it off for long-running handlers (a batch must finish within Kafka's poll interval).
    ``many`` (with ``batch=True``) takes a whole poll's events at once, ``handler`` being
    the fallback one record at a time.
    """
    tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
    delivery = _Delivery(broker, settings, contract, handler, tracer)
    group_id = settings.group(group)
    title = f"{group}:{topic}"
    if not batch:

        @broker.subscriber(
            topic,
            group_id=group_id,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            title=title,
            description=handler.__doc__,
            listener=listener,
            rebalance_timeout_ms=_rebalance_timeout_ms(settings),
        )
        async def on_message(message: KafkaMessage) -> None:
            raw = message.raw_message
            await delivery.one(raw[0] if isinstance(raw, tuple) else raw)
            await _commit(message)

        return

    @broker.subscriber(
        topic,
        batch=True,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        group_id=group_id,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        title=title,
        description=handler.__doc__,
        listener=listener,
        rebalance_timeout_ms=_rebalance_timeout_ms(settings),
    )
    async def on_batch(message: KafkaMessage) -> None:
        raw = message.raw_message
        records = list(raw) if isinstance(raw, tuple) else [raw]
        try:
            if many is None:
                await delivery.one_by_one(records)
            else:
                await delivery.all_at_once(records, many)
        except BaseException:
            _rewind(message.consumer, records)
            raise
        await _commit(message)


async def _commit(message: KafkaMessage) -> None:
    """Commit what the consumer has processed, before its records are released.

    FastStream would commit after every middleware has exited, the health middleware's
    release included, so a rebalance (or the other consumer of the group leaving on
    SIGTERM) could move on between a poll's outputs and its commit. A commit the group
    refuses because it has rebalanced meanwhile is left to the partitions' next owner,
    which processes the poll again (every handler is idempotent).
    """
    try:
        await message.ack()
    except CommitFailedError:
        log.warning("commit refused: the group rebalanced, the poll will be processed again")
        message.committed = AckStatus.NACKED  # nothing left for FastStream to commit or seek


def _rebalance_timeout_ms(settings: ServiceSettings) -> int:
    """How long the group waits for a member to rejoin: as long as a member may wait for
    the work in hand before it rejoins (crm_runtime.health)."""
    return int(settings.rebalance_wait_s * 1000)


def _carrier(record: Record) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in record.headers or ()}


def _by_partition_and_key(records: list[Record]) -> list[list[Record]]:
    """Records grouped by (partition, key), each group in offset order."""
    groups: dict[tuple[str, int, bytes | None], list[Record]] = {}
    for record in records:
        groups.setdefault((record.topic, record.partition, record.key), []).append(record)
    return list(groups.values())


def _rewind(consumer: Any, records: list[Record]) -> None:
    """Seek every partition of a failed batch back to its first record in the batch."""
    first: dict[tuple[str, int], int] = {}
    for record in records:
        key = (record.topic, record.partition)
        first[key] = min(first.get(key, record.offset), record.offset)
    assigned = consumer.assignment()
    for (topic, partition), offset in first.items():
        tp = TopicPartition(topic, partition)
        if tp in assigned:  # a partition revoked meanwhile restarts from its commit elsewhere
            consumer.seek(tp, offset)
