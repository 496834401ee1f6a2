"""The Kafka side of every service: the broker, publishing, and topic creation.

Publishing waits for acks from all in-sync replicas with an idempotent producer, so a
publish that returned is durable; handlers publish before their offset is committed.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind
from pydantic import BaseModel

from crm_runtime.outages import unavailable
from crm_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

JSON_HEADERS = {"content-type": "application/json"}


def build_broker(settings: ServiceSettings, service: str, tracer: TracerProvider) -> KafkaBroker:
    """A broker whose producer is durable and whose messages carry the trace context."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=service,
        acks="all",
        enable_idempotence=True,
        graceful_timeout=settings.shutdown_grace_s,  # on stop, the poll in hand finishes
        middlewares=[KafkaTelemetryMiddleware(tracer_provider=tracer)],
        logger=logging.getLogger(f"{service}.broker"),
        log_level=logging.DEBUG,  # one line per message consumed: only when asked for
    )


async def publish(broker: KafkaBroker, topic: str, key: str, event: BaseModel) -> None:
    """Publish one event as JSON under its key, and return once Kafka has it durably."""
    await broker.publish(
        event.model_dump_json(by_alias=True).encode(),
        topic=topic,
        key=key.encode(),
        headers=dict(JSON_HEADERS),
    )


Outgoing = tuple[str, str, BaseModel]  # topic, key, event


class BulkPublisher:
    """Publishes many events at once through an aiokafka producer of its own.

    As durable as ``publish`` (acks from all in-sync replicas, idempotent producer, so
    retries neither duplicate nor reorder), and about thirty times cheaper per event: every
    event is handed to the producer's batches first and the acks are awaited together,
    under one trace span whose context every event carries in its headers. Started on
    first use; ``close`` once, when the service stops.

    A producer that fails to start, or whose publish fails because Kafka is unavailable,
    is dropped, and the next publish starts a fresh one: nothing stays broken after an
    outage (an idempotent producer's sequence state may not survive a broker's restart).
    The error is raised for the caller's delivery to wait and retry (docs/adr/0030).
    """

    def __init__(self, settings: ServiceSettings, service: str, tracer: TracerProvider) -> None:
        self._bootstrap = settings.kafka_bootstrap
        self._timeout_ms = settings.kafka_publish_timeout_ms
        self._client_id = f"{service}-bulk"
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer)
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._starting:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    client_id=self._client_id,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=5,
                    request_timeout_ms=self._timeout_ms,
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()  # its connections and tasks; the next call retries
                    raise
                self._producer = producer
            return self._producer

    async def _drop(self, producer: AIOKafkaProducer, error: BaseException) -> None:
        """Forget a producer that failed with Kafka unavailable; the next publish starts
        another. Calls that share it meanwhile fail too, and are retried the same way."""
        async with self._starting:
            ours = self._producer is producer  # else dropped already by a concurrent call
            if ours:
                self._producer = None
        if not ours:
            return
        log.info(
            "bulk producer dropped; the next publish starts a new one", extra={"error": repr(error)}
        )
        with contextlib.suppress(KafkaError):
            await producer.stop()

    async def publish_all(self, outgoing: Iterable[Outgoing]) -> None:
        """Publish every event under its key, in the given order within one topic and key;
        return once Kafka has every one durably."""
        events = list(outgoing)
        if not events:
            return
        producer = await self._started()
        try:
            await self._send(producer, events)
        except KafkaError as error:
            if unavailable(error) is not None:
                await self._drop(producer, error)
            raise

    async def _send(self, producer: AIOKafkaProducer, events: list[Outgoing]) -> None:
        topics = sorted({topic for topic, _, _ in events})
        with self._tracer.start_as_current_span(
            f"{topics[0] if len(topics) == 1 else 'many topics'} publish",
            kind=SpanKind.PRODUCER,
            attributes={"messaging.batch.message_count": len(events)},
        ):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            headers = [(k, v.encode()) for k, v in (JSON_HEADERS | carrier).items()]
            acks: list[asyncio.Future[Any]] = []
            try:
                for topic, key, event in events:
                    value = event.model_dump_json(by_alias=True).encode()
                    ack = await producer.send(topic, value, key=key.encode(), headers=headers)
                    acks.append(ack)
            finally:  # whatever happens, no acknowledgement is left unawaited
                outcomes = await asyncio.gather(*acks, return_exceptions=True)
            failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
            if failed is not None:
                raise failed

    async def close(self) -> None:
        """Flush and stop the producer, if it was ever started."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


COMPACTED = {"cleanup.policy": "compact"}
"""The config of a topic whose newest record of every key is kept for good."""


async def ensure_topics(
    bootstrap: str, topics: tuple[str, ...], partitions: int, compacted: Iterable[str] = ()
) -> None:
    """Create the topics that do not exist yet, those named in ``compacted`` compacted
    (docs/adr/0021); existing ones are left as they are (``crm-admin compact-topics``
    changes existing ones)."""
    compact = set(compacted)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if not missing:
            return
        try:
            await admin.create_topics(
                [
                    NewTopic(
                        t,
                        num_partitions=partitions,
                        replication_factor=1,
                        topic_configs=dict(COMPACTED) if t in compact else {},
                    )
                    for t in missing
                ]
            )
        except TopicAlreadyExistsError:
            log.info("topics created concurrently by another replica", extra={"topics": missing})
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, prefix: str) -> list[str]:
    """Delete every topic under ``prefix`` (a test's or a benchmark's deployment); return them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        mine = [name for name in await admin.list_topics() if name.startswith(f"{prefix}.")]
        if mine:
            await admin.delete_topics(mine)
        return mine
    finally:
        await admin.close()
