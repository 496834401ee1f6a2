"""The Kafka side of every service: the broker, publishing, and topic creation.

Publishing waits for acks from all in-sync replicas with an idempotent producer, so a
publish that returned is durable; handlers publish before their offset is committed.
"""

import asyncio
import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel

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


async def publish_all(broker: KafkaBroker, outgoing: Iterable[Outgoing]) -> None:
    """Publish many events, concurrently across keys and in the given order within one
    topic and key; return once Kafka has every one durably."""
    by_key: dict[tuple[str, str], list[BaseModel]] = {}
    for topic, key, event in outgoing:
        by_key.setdefault((topic, key), []).append(event)

    async def in_order(topic: str, key: str, events: list[BaseModel]) -> None:
        for event in events:
            await publish(broker, topic, key, event)

    await asyncio.gather(*(in_order(t, k, events) for (t, k), events in by_key.items()))


async def ensure_topics(bootstrap: str, topics: tuple[str, ...], partitions: int) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if not missing:
            return
        try:
            await admin.create_topics(
                [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in missing]
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
