"""Many events published at once: each one durably, once, in order within its key."""

from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel

from crm_runtime.bus import BulkPublisher, ensure_topics
from crm_runtime.settings import ServiceSettings

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
