"""A dependency that is down is not the message's fault, on the real Kafka of the stack.

The handlers here fail the way an outage makes them fail (pymongo's connection errors,
``DependencyUnavailable``) for longer than a message's attempts would last: the message
waits, is not dead-lettered, and is processed and committed once the dependency is back.
The fault tests (tests/e2e/test_outages.py) kill the real Kafka and FerretDB.
"""

import asyncio
import logging
import time

import pytest
from faststream.kafka import KafkaBroker
from opentelemetry.sdk.trace import TracerProvider
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from crm_runtime.bus import build_broker, ensure_topics
from crm_runtime.delivery import subscribe
from crm_runtime.outages import DependencyUnavailable
from crm_runtime.settings import ServiceSettings
from tests.e2e.harness import consumer_lag
from tests.integration.runtime.test_delivery import Ping, read, until

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


class Down:
    """A dependency that is down for ``seconds`` from the first call, raising ``error``."""

    def __init__(self, seconds: float, error: Exception) -> None:
        self.seconds = seconds
        self.error = error
        self.since: float | None = None
        self.calls = 0

    def check(self) -> None:
        self.calls += 1
        self.since = self.since or time.monotonic()
        if time.monotonic() - self.since < self.seconds:
            raise self.error


async def no_dead_letters(settings: ServiceSettings) -> None:
    assert await read(settings.kafka_bootstrap, settings.topics.dead_letter, 1, within=2) == []


async def committed(settings: ServiceSettings, topic: str) -> None:
    deadline = time.monotonic() + 30
    while await consumer_lag(settings.kafka_bootstrap, settings.group("t"), [topic]) > 0:
        assert time.monotonic() < deadline, "the offsets were never committed"
        await asyncio.sleep(0.2)


async def test_a_database_that_is_down_does_not_use_up_a_messages_attempts(
    broker: KafkaBroker, settings: ServiceSettings
) -> None:
    database = Down(seconds=4, error=AutoReconnect("connection refused"))
    done: list[int] = []

    async def handle(ping: Ping) -> None:
        database.check()
        done.append(ping.n)

    topic = f"{settings.topic_prefix}.pings"
    subscribe(broker, settings, topic=topic, group="t", contract=Ping, handler=handle)
    await broker.start()
    await broker.publish(b'{"n": 1}', topic=topic, key=b"k")

    await until(lambda: done == [1])
    assert database.calls > settings.handler_attempts + 1  # it really outlasted them
    await no_dead_letters(settings)
    await committed(settings, topic)


async def test_a_message_of_its_own_fault_is_still_dead_lettered_after_an_outage(
    broker: KafkaBroker, settings: ServiceSettings
) -> None:
    database = Down(seconds=2, error=ServerSelectionTimeoutError("no servers"))

    async def handle(ping: Ping) -> None:
        database.check()
        raise ValueError("a date in the year 10000")

    topic = f"{settings.topic_prefix}.pings"
    subscribe(broker, settings, topic=topic, group="t", contract=Ping, handler=handle)
    await broker.start()
    await broker.publish(b'{"n": 2}', topic=topic, key=b"k")

    [letter] = await read(settings.kafka_bootstrap, settings.topics.dead_letter, 1)
    assert b"ValueError" in letter.value
    attempts = f'"attempts":{settings.handler_attempts}'.encode()
    assert attempts in letter.value.replace(b" ", b"")  # the outage used none of them


async def test_a_batch_waiting_longer_than_the_hold_is_handed_back_and_comes_again(
    broker: KafkaBroker, settings: ServiceSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="crm_runtime.consumers")
    patient = settings.model_copy(update={"outage_hold_s": 1.0, "outage_max_wait_s": 0.3})
    provider = Down(seconds=4, error=DependencyUnavailable("the provider's API", "HTTP 503"))
    done: list[int] = []

    async def handle(ping: Ping) -> None:
        provider.check()
        done.append(ping.n)

    topic = f"{settings.topic_prefix}.pings"
    subscribe(broker, patient, topic=topic, group="t", contract=Ping, handler=handle, batch=True)
    await broker.start()
    for n in range(5):
        await broker.publish(f'{{"n": {n}}}'.encode(), topic=topic, key=f"k{n}".encode())

    await until(lambda: sorted(done) == [0, 1, 2, 3, 4])
    await no_dead_letters(settings)
    await committed(settings, topic)
    handed_back = [r for r in caplog.records if r.getMessage().startswith("poll handed back")]
    assert handed_back, "the poll was held for the whole outage"


async def test_a_poll_handed_back_is_not_committed_until_it_is_done(
    broker: KafkaBroker, settings: ServiceSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="crm_runtime.consumers")
    patient = settings.model_copy(update={"outage_hold_s": 1.0, "outage_max_wait_s": 0.3})
    database = Down(seconds=600, error=AutoReconnect("connection refused"))
    done: list[int] = []

    async def handle(ping: Ping) -> None:
        database.check()
        done.append(ping.n)

    def handed_back() -> int:
        return sum(r.getMessage().startswith("poll handed back") for r in caplog.records)

    topic = f"{settings.topic_prefix}.pings"
    subscribe(broker, patient, topic=topic, group="t", contract=Ping, handler=handle)
    await broker.start()
    await broker.publish(b'{"n": 7}', topic=topic, key=b"k")

    await until(lambda: handed_back() >= 2)  # handed back, polled again, handed back
    lag = await consumer_lag(settings.kafka_bootstrap, settings.group("t"), [topic])
    assert (lag, done) == (1, [])  # nothing committed for work not done
    database.seconds = 0  # the database is back
    await until(lambda: done == [7])
    await committed(settings, topic)
    await no_dead_letters(settings)


async def test_a_message_on_hold_is_reported_once(
    broker: KafkaBroker, settings: ServiceSettings
) -> None:
    database = Down(seconds=3, error=AutoReconnect("connection reset"))
    held: list[tuple[int, str]] = []
    done: list[int] = []

    async def handle(ping: Ping) -> None:
        database.check()
        done.append(ping.n)

    async def on_hold(ping: Ping, dependency: str) -> None:
        held.append((ping.n, dependency))

    topic = f"{settings.topic_prefix}.pings"
    subscribe(
        broker, settings, topic=topic, group="t", contract=Ping, handler=handle, on_hold=on_hold
    )
    await broker.start()
    await broker.publish(b'{"n": 4}', topic=topic, key=b"k")

    await until(lambda: done == [4])
    assert held == [(4, "MongoDB")]


async def test_a_consumer_blocked_past_its_poll_interval_loses_nothing(
    broker: KafkaBroker, settings: ServiceSettings
) -> None:
    """Kafka removes a consumer that does not poll within max.poll.interval (here: a
    publish blocked while Kafka is away; the idempotent producer never gives up). What it
    held was not committed: the other replica gets it, and does it."""
    strict = settings.model_copy(
        update={
            "consumer_max_poll_interval_ms": 10_000,
            "handler_stall_s": 10.0,
            "outage_hold_s": 5.0,
        }
    )
    handled: list[tuple[str, int]] = []
    blocked: list[int] = []

    async def blocks_once(ping: Ping) -> None:
        if not blocked:
            blocked.append(ping.n)
            await asyncio.sleep(14)  # longer than the poll interval
        handled.append(("a", ping.n))

    async def quick(ping: Ping) -> None:
        handled.append(("b", ping.n))

    topic = f"{settings.topic_prefix}.pings"
    await ensure_topics(settings.kafka_bootstrap, (topic,), 4)
    other = build_broker(strict, "outage-test-b", TracerProvider())
    subscribe(
        broker, strict, topic=topic, group="t", contract=Ping, handler=blocks_once, batch=True
    )
    subscribe(other, strict, topic=topic, group="t", contract=Ping, handler=quick, batch=True)
    await broker.start()
    await other.start()
    try:
        for n in range(8):
            await broker.publish(f'{{"n": {n}}}'.encode(), topic=topic, key=f"k{n}".encode())
        await until(lambda: {n for _, n in handled} == set(range(8)), within=60)
        await committed(settings, topic)
        assert ("b", blocked[0]) in handled, "the blocked record never went to the other replica"
        await no_dead_letters(settings)
    finally:
        await other.stop()
