"""Batch consumption on the real Kafka: order per key, nothing skipped, one commit per poll."""

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel

from crm_runtime import delivery
from crm_runtime.bus import build_broker, ensure_topics, publish
from crm_runtime.delivery import subscribe
from crm_runtime.settings import ServiceSettings
from tests.integration.runtime.test_delivery import read

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


class Step(BaseModel):
    key: str
    n: int


@pytest.fixture
async def broker(settings: ServiceSettings) -> AsyncIterator[KafkaBroker]:
    await ensure_topics(settings.kafka_bootstrap, settings.topics.all(), 4)
    built = build_broker(settings, "batch-test", TracerProvider())
    yield built
    await built.stop()


async def until(condition: Any, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def fill(broker: KafkaBroker, topic: str, keys: int, per_key: int) -> None:
    await broker.connect()
    for n in range(per_key):
        for k in range(keys):
            await publish(broker, topic, f"k{k}", Step(key=f"k{k}", n=n))


async def test_a_batch_keeps_each_keys_order_and_handles_every_record_once(
    broker: KafkaBroker, settings: ServiceSettings
) -> None:
    topic = f"{settings.topic_prefix}.steps"
    await ensure_topics(settings.kafka_bootstrap, (topic,), 4)
    seen: dict[str, list[int]] = defaultdict(list)

    async def handle(step: Step) -> None:
        await asyncio.sleep(0.001)  # yield, so keys really interleave
        seen[step.key].append(step.n)

    await fill(broker, topic, keys=10, per_key=30)
    subscribe(broker, settings, topic=topic, group="t", contract=Step, handler=handle, batch=True)
    await broker.start()

    await until(lambda: sum(len(v) for v in seen.values()) >= 300)
    assert {k: v for k, v in seen.items()} == {f"k{k}": list(range(30)) for k in range(10)}


async def test_a_batch_that_cannot_finish_is_delivered_again_with_nothing_skipped(
    broker: KafkaBroker, settings: ServiceSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dead-letter topic is unreachable for a while: the whole batch comes again."""
    topic = f"{settings.topic_prefix}.steps"
    await ensure_topics(settings.kafka_bootstrap, (topic,), 4)
    done: set[tuple[str, int]] = set()
    dead_letter_failures = 2
    real_publish = delivery.publish

    async def flaky_publish(*args: Any) -> None:
        nonlocal dead_letter_failures
        if args[1] == settings.topics.dead_letter and dead_letter_failures > 0:
            dead_letter_failures -= 1
            raise ConnectionError("dead-letter topic unreachable")
        await real_publish(*args)

    async def handle(step: Step) -> None:
        if step == Step(key="k0", n=0):
            raise ValueError("poison")
        done.add((step.key, step.n))

    monkeypatch.setattr(delivery, "publish", flaky_publish)
    await fill(broker, topic, keys=4, per_key=10)
    subscribe(broker, settings, topic=topic, group="t", contract=Step, handler=handle, batch=True)
    await broker.start()

    expected = {(f"k{k}", n) for k in range(4) for n in range(10)} - {("k0", 0)}
    await until(lambda: done >= expected)
    assert dead_letter_failures == 0, "the failing dead-letter publish was never reached"


async def test_a_bulk_handler_takes_whole_polls_and_a_poison_record_falls_back_to_one_by_one(
    broker: KafkaBroker, settings: ServiceSettings
) -> None:
    """A poll goes to the bulk handler at once; when it fails, the same records go one at a
    time through the ordinary handler, which dead-letters the poison and keeps the rest."""
    topic = f"{settings.topic_prefix}.steps"
    await ensure_topics(settings.kafka_bootstrap, (topic,), 4)
    in_bulk: list[int] = []
    one_by_one: set[tuple[str, int]] = set()
    poison = Step(key="k1", n=3)

    async def handle_all(steps: list[Step]) -> None:
        if poison in steps:
            raise ValueError("poison in this batch")
        in_bulk.append(len(steps))

    async def handle(step: Step) -> None:
        if step == poison:
            raise ValueError("poison")
        one_by_one.add((step.key, step.n))

    await fill(broker, topic, keys=4, per_key=10)
    subscribe(
        broker,
        settings,
        topic=topic,
        group="t",
        contract=Step,
        handler=handle,
        many=handle_all,
        batch=True,
    )
    await broker.start()
    [letter] = await read(settings.kafka_bootstrap, settings.topics.dead_letter, 1)
    assert json.loads(letter.value)["error"] == "poison"
    await until(lambda: sum(in_bulk) + len(one_by_one) >= 39)
    assert (poison.key, poison.n) not in one_by_one

    handled_before = len(one_by_one)
    for n in range(10, 20):  # a later wave without poison goes in bulk only
        for k in range(4):
            await publish(broker, topic, f"k{k}", Step(key=f"k{k}", n=n))
    await until(lambda: sum(in_bulk) + len(one_by_one) >= 79)
    assert len(one_by_one) == handled_before
    assert sum(in_bulk) + len(one_by_one) == 79
