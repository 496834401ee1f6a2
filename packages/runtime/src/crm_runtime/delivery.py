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

An unavailable dependency (Kafka, MongoDB, ``DependencyUnavailable``) is not the message's
fault: the message waits for it without spending its attempts (``crm_runtime.patience``).
After ``outage_hold_s`` of waiting the poll is handed back to Kafka uncommitted, quietly,
and polled again, so the consumer stays in its group however long the outage lasts; it
is handed back sooner when a rebalance takes its partitions or the service stops
(``releasing``), so an outage holds up neither.
"""

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeAlias, TypeVar

from aiokafka import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import AckStatus
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Tracer, TracerProvider
from pydantic import TypeAdapter, ValidationError
from tenacity import AsyncRetrying, RetryError

from crm_runtime.bus import publish
from crm_runtime.consumers import (
    Record,
    by_partition_and_key,
    consumer_membership,
    hand_back,
    rewind,
)
from crm_runtime.outages import Outages
from crm_runtime.patience import Patience, RetryLater, StillUnavailable, released
from crm_runtime.settings import ServiceSettings
from crm_schemas.outcomes import DeadLetter

__all__ = ["ManyHandler", "OnHold", "RetryLater", "subscribe"]

T = TypeVar("T")
log = logging.getLogger(__name__)
ManyHandler: TypeAlias = Callable[[list[Any]], Awaitable[None]]
OnHold: TypeAlias = Callable[[Any, str], Awaitable[None]]
Releasing: TypeAlias = Callable[[frozenset[tuple[str, int]]], bool]


class _Delivery:
    """Validates, retries and dead-letters one record for one handler."""

    def __init__(
        self,
        broker: KafkaBroker,
        settings: ServiceSettings,
        contract: Any,
        handler: Callable[[Any], Awaitable[None]],
        tracer: Tracer,
        outages: Outages,
        on_hold: OnHold | None = None,
        releasing: Releasing | None = None,
    ) -> None:
        self._broker = broker
        self._settings = settings
        self._adapter: TypeAdapter[Any] = TypeAdapter(contract)
        self._handler = handler
        self._tracer = tracer
        self._outages = outages
        self._on_hold = on_hold
        self._releasing = releasing
        self.name = getattr(handler, "__qualname__", repr(handler))

    def _release(self, records: list[Record]) -> Callable[[], bool] | None:
        """Whether a wait for a dependency should hand these records back now."""
        if self._releasing is None:
            return None
        return partial(self._releasing, frozenset((r.topic, r.partition) for r in records))

    def _retrying(self, patience: Patience) -> AsyncRetrying:
        return AsyncRetrying(
            stop=patience.stop,
            wait=patience.wait,
            before_sleep=patience.before_sleep,
            reraise=False,
        )

    async def parse(self, record: Record) -> Any | None:
        """The record's event, or None once a record that breaks its contract is
        dead-lettered."""
        try:
            return self._adapter.validate_json(record.value or b"")
        except ValidationError as invalid:
            await self._dead_letter(record, invalid, attempts=1)
            return None

    async def one(self, record: Record) -> None:
        """Process one record; return once it is handled or dead-lettered. Raises
        ``StillUnavailable`` when it waited ``outage_hold_s`` for a dependency."""
        event = await self.parse(record)
        if event is None:
            return
        on_hold = partial(self._on_hold, event) if self._on_hold is not None else None
        patience = Patience(
            self._settings,
            self._outages,
            self._settings.handler_attempts,
            on_hold,
            self._release([record]),
        )
        try:
            async for attempt in self._retrying(patience):
                with attempt:
                    await self._handler(event)
        except RetryError as failed:
            cause = failed.last_attempt.exception() or failed
            patience.gave_up(cause)
            log.warning(
                "handler failed, dead-lettering",
                extra={"handler": self.name, "topic": record.topic, "error": repr(cause)},
            )
            await self._dead_letter(record, cause, patience.attempts)
            return
        patience.succeeded()

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
            for same_key in by_partition_and_key(records):
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
        # A batch that must wait (a config on its way, a dependency down) waits as a whole,
        # in bulk; on a failure of its own it is handled one record at a time at once.
        release = self._release([record for record, _ in valid])
        patience = Patience(self._settings, self._outages, own_failures=1, release=release)
        try:
            async for attempt in self._retrying(patience):
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
        except RetryError as failed:  # the per-record path below retries and dead-letters
            error = failed.last_attempt.exception()
            patience.gave_up(error)
            log.warning(
                "batch failed, processing it one record at a time",
                extra={"handler": self.name, "topic": valid[0][0].topic, "error": repr(error)},
            )
            await self.one_by_one([record for record, _ in valid])
            return
        patience.succeeded()

    async def _dead_letter(self, record: Record, error: BaseException, attempts: int) -> None:
        """Publish the record to the dead-letter topic, waiting for Kafka if need be."""
        letter = self._letter(record, error, attempts)
        key = letter.key or ""
        release = self._release([record])
        patience = Patience(self._settings, self._outages, own_failures=1, release=release)
        try:
            async for attempt in self._retrying(patience):
                with attempt:
                    await publish(self._broker, self._settings.topics.dead_letter, key, letter)
        except RetryError as failed:
            publishing = failed.last_attempt.exception()
            patience.gave_up(publishing)
            raise (publishing or failed) from None  # not committed: the record comes again
        patience.succeeded()

    def _letter(self, record: Record, error: BaseException, attempts: int) -> DeadLetter:
        body = record.value or b""
        try:
            payload, encoding = body.decode(), "utf-8"
        except UnicodeDecodeError:
            payload, encoding = base64.b64encode(body).decode(), "base64"
        key = record.key.decode(errors="replace") if isinstance(record.key, bytes) else None
        return DeadLetter(
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
    outages: Outages | None = None,
    on_hold: OnHold | None = None,
    listener: ConsumerRebalanceListener | None = None,
    releasing: Releasing | None = None,
) -> None:
    """Consume ``topic`` in consumer group ``group``, at least once, dead-lettering failures.

    ``batch=True`` processes each poll concurrently across keys and commits once per poll;
    keep it off for long-running handlers (a batch must finish within Kafka's poll interval).
    ``many`` (with ``batch=True``) takes a whole poll's events at once, ``handler`` being
    the fallback one record at a time. ``outages`` is the process's log of dependencies it
    waits for (one per process, so each change is logged once); ``on_hold(event,
    dependency)`` is told once when a record starts waiting for a dependency (without
    ``many``), to say so where a user can see it. ``listener`` follows the group's
    rebalances (crm_runtime.health); ``releasing(partitions)`` says when a wait for a
    dependency should hand its poll back early (a rebalance, a shutdown).
    """
    tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
    waits = outages if outages is not None else Outages()
    delivery = _Delivery(broker, settings, contract, handler, tracer, waits, on_hold, releasing)
    member = consumer_membership(settings, topic)
    if not batch:

        @broker.subscriber(
            topic,
            group_id=settings.group(group),
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            title=f"{group}:{topic}",
            description=handler.__doc__,
            listener=listener,
            **member,
        )
        async def on_message(message: KafkaMessage) -> None:
            raw = message.raw_message
            try:
                await delivery.one(raw[0] if isinstance(raw, tuple) else raw)
            except StillUnavailable as waiting:
                raise hand_back(waiting) from None  # uncommitted: polled again
            await _commit(message)

        return

    @broker.subscriber(
        topic,
        batch=True,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        group_id=settings.group(group),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        title=f"{group}:{topic}",
        description=handler.__doc__,
        listener=listener,
        **member,
    )
    async def on_batch(message: KafkaMessage) -> None:
        raw = message.raw_message
        records = list(raw) if isinstance(raw, tuple) else [raw]
        try:
            if many is None:
                await delivery.one_by_one(records)
            else:
                await delivery.all_at_once(records, many)
        except BaseException as error:
            rewind(message.consumer, records)
            if isinstance(error, Exception) and released(error):
                raise hand_back(error) from None
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


def _carrier(record: Record) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in record.headers or ()}
