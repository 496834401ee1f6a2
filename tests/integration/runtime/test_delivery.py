"""At-least-once delivery and dead letters, on the real Kafka of the local stack."""

import asyncio
import json
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel

from crm_runtime.bus import build_broker, ensure_topics
from crm_runtime.delivery import RetryLater, subscribe
from crm_runtime.settings import ServiceSettings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


class Ping(BaseModel):
    n: int


async def read(bootstrap: str, topic: str, count: int, within: float = 30.0) -> list[Any]:
    """The first ``count`` records of a topic, read from the beginning with a deadline."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    records: list[Any] = []
    deadline = time.monotonic() + within
    try:
        while len(records) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            records.extend(r for rs in batch.values() for r in rs)
    finally:
        await consumer.stop()
    return records


async def until(condition: Any, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def test_a_payload_that_breaks_its_contract_is_dead_lettered_and_the_next_one_flows(
    broker: KafkaBroker, settings: ServiceSettings
) -> None:
    seen: list[int] = []

    async def handle(ping: Ping) -> None:
        seen.append(ping.n)

    topic = f"{settings.topic_prefix}.pings"
    subscribe(broker, settings, topic=topic, group="t", contract=Ping, handler=handle)
    await broker.start()
    await broker.publish(b"{not json", topic=topic, key=b"k")
    await broker.publish(b'{"n": 2}', topic=topic, key=b"k")

    await until(lambda: seen == [2])
    [letter] = await read(settings.kafka_bootstrap, settings.topics.dead_letter, 1)
    body = json.loads(letter.value)
    assert body["source_topic"] == topic
    assert body["payload"] == "{not json"
    assert body["error_type"] == "ValidationError"
    assert body["attempts"] == 1


async def test_a_handler_that_keeps_failing_is_retried_then_dead_lettered(
    broker: KafkaBroker, settings: ServiceSettings
) -> None:
    attempts: list[int] = []
    done: list[int] = []

    async def handle(ping: Ping) -> None:
        if ping.n == 1:
            attempts.append(ping.n)
            raise RuntimeError("the database is on fire")
        done.append(ping.n)

    topic = f"{settings.topic_prefix}.pings"
    subscribe(broker, settings, topic=topic, group="t", contract=Ping, handler=handle)
    await broker.start()
    await broker.publish(b'{"n": 1}', topic=topic, key=b"k")
    await broker.publish(b'{"n": 2}', topic=topic, key=b"k")

    await until(lambda: done == [2])
    assert len(attempts) == settings.handler_attempts
    [letter] = await read(settings.kafka_bootstrap, settings.topics.dead_letter, 1)
    body = json.loads(letter.value)
    assert body["error"] == "the database is on fire"
    assert body["attempts"] == settings.handler_attempts
    assert body["key"] == "k"


async def test_a_passing_failure_is_retried_and_processed_once(
    broker: KafkaBroker, settings: ServiceSettings
) -> None:
    calls: list[int] = []

    async def handle(ping: Ping) -> None:
        calls.append(ping.n)
        if len(calls) == 1:
            raise ConnectionError("blip")

    topic = f"{settings.topic_prefix}.pings"
    subscribe(broker, settings, topic=topic, group="t", contract=Ping, handler=handle)
    await broker.start()
    await broker.publish(b'{"n": 7}', topic=topic, key=b"k")

    await until(lambda: len(calls) == 2)
    assert calls == [7, 7]
    assert await read(settings.kafka_bootstrap, settings.topics.dead_letter, 1, within=2) == []


async def test_an_offset_is_committed_only_after_the_handler_finished(
    settings: ServiceSettings,
) -> None:
    """A consumer that dies inside the handler gets the message again after a restart."""
    await ensure_topics(settings.kafka_bootstrap, settings.topics.all(), 2)
    topic = f"{settings.topic_prefix}.pings"
    started = asyncio.Event()
    delivered: list[int] = []

    async def hang(ping: Ping) -> None:
        started.set()
        await asyncio.sleep(3600)  # the process "dies" here: the broker is stopped

    first = build_broker(settings, "first", TracerProvider())
    subscribe(first, settings, topic=topic, group="t", contract=Ping, handler=hang)
    await first.start()
    await first.publish(b'{"n": 5}', topic=topic, key=b"k")
    await asyncio.wait_for(started.wait(), 30)
    await first.stop()

    async def record(ping: Ping) -> None:
        delivered.append(ping.n)

    second = build_broker(settings, "second", TracerProvider())
    subscribe(second, settings, topic=topic, group="t", contract=Ping, handler=record)
    await second.start()
    try:
        await until(lambda: delivered == [5], within=60)
    finally:
        await second.stop()


async def test_waiting_for_a_config_outlasts_the_attempts_budget(
    broker: KafkaBroker, settings: ServiceSettings
) -> None:
    calls: list[int] = []
    waits = settings.handler_attempts + 2  # more "not yet" answers than attempts allowed

    async def handle(ping: Ping) -> None:
        calls.append(ping.n)
        if len(calls) <= waits:
            raise RetryLater("the account's config has not arrived yet")

    topic = f"{settings.topic_prefix}.pings"
    subscribe(broker, settings, topic=topic, group="t", contract=Ping, handler=handle)
    await broker.start()
    await broker.publish(b'{"n": 3}', topic=topic, key=b"k")

    await until(lambda: len(calls) == waits + 1)
    assert await read(settings.kafka_bootstrap, settings.topics.dead_letter, 1, within=2) == []
