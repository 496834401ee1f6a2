"""Many events published at once: each one durably, once, in order within its key."""

import asyncio
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel

from crm_runtime.bus import BulkPublisher, ensure_topics
from crm_runtime.outages import KAFKA, unavailable
from crm_runtime.settings import ServiceSettings
from tests.e2e.private_stack import free_ports

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


class Step(BaseModel):
    key: str
    n: int


async def test_every_event_arrives_once_in_order_within_its_key(settings: ServiceSettings) -> None:
    topic = f"{settings.topic_prefix}.steps.v1"
    await ensure_topics(settings.kafka_bootstrap, (topic,), 4)
    steps = [Step(key=f"k{n % 7}", n=n) for n in range(2000)]
    bulk = BulkPublisher(settings, "bulk-test", TracerProvider())
    try:
        await bulk.publish_all((topic, s.key, s) for s in steps)
    finally:
        await bulk.close()

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    seen: dict[str, list[int]] = defaultdict(list)
    try:
        for _ in range(100):
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    step = Step.model_validate_json(record.value)
                    assert record.key == step.key.encode()
                    seen[step.key].append(step.n)
            if sum(len(v) for v in seen.values()) >= len(steps):
                break
    finally:
        await consumer.stop()

    expected: dict[str, list[int]] = defaultdict(list)
    for step in steps:
        expected[step.key].append(step.n)
    assert seen == expected


class Forwarder:
    """A TCP port that forwards to Kafka once ``open``: Kafka "unreachable", then back."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        self._server: asyncio.Server | None = None

    async def open(self, port: int) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
            dst.close()

        await asyncio.gather(copy(reader, upstream_writer), copy(upstream_reader, writer))


async def test_a_producer_that_could_not_start_starts_once_kafka_answers(
    settings: ServiceSettings,
) -> None:
    topic = f"{settings.topic_prefix}.steps.v1"
    await ensure_topics(settings.kafka_bootstrap, (topic,), 4)
    [port] = free_ports(1)
    unreachable = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{port}"})
    bulk = BulkPublisher(unreachable, "bulk-test", TracerProvider())
    forwarder = Forwarder(settings.kafka_bootstrap)
    try:
        with pytest.raises(KafkaConnectionError) as failed:
            await bulk.publish_all([(topic, "k", Step(key="k", n=1))])
        assert unavailable(failed.value) == KAFKA  # the delivery layer waits for it

        await forwarder.open(port)  # Kafka answers again
        await bulk.publish_all([(topic, "k", Step(key="k", n=2))])
    finally:
        await bulk.close()
        await forwarder.close()
    assert await records_on(settings.kafka_bootstrap, topic) == 1


async def records_on(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [
                TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()
            ]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()
