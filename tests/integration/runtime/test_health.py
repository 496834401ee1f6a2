"""Probes and rebalances of a consumer process, on the real Kafka.

Ready once every consumer group is joined; not live while a handler holds a poll past the
stall bound; and a partition is not handed to a new member while its records are in hand.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import BaseModel

from crm_runtime.bus import ensure_topics, publish
from crm_runtime.service import Runtime, build_runtime
from crm_runtime.settings import ServiceSettings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


class Job(BaseModel):
    n: int


async def probe(port: int, path: str) -> tuple[int, dict[str, Any]]:
    """GET the health endpoint: status and JSON body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: probe\r\n\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


async def until(condition: Any, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


@pytest.fixture
async def runtimes() -> AsyncIterator[list[Runtime]]:
    """Runtimes a test starts; stopped at the end."""
    started: list[Runtime] = []
    yield started
    for runtime in started:
        await runtime.broker.stop()
        if runtime.probes is not None:
            await runtime.probes.stop()
        await runtime.bulk.close()
        await runtime.mongo.close()


def consumer(settings: ServiceSettings, name: str, handler: Any, **changes: Any) -> Runtime:
    """A runtime consuming the test's jobs topic one record at a time, probes on a free port."""
    runtime = build_runtime(name, settings.model_copy(update={"health_port": 0, **changes}))
    runtime.consume(f"{settings.topic_prefix}.jobs", "jobs", Job, handler, batch=False)
    return runtime


async def test_a_consumer_is_ready_once_it_joined_its_group_and_live_meanwhile(
    settings: ServiceSettings, runtimes: list[Runtime]
) -> None:
    await ensure_topics(settings.kafka_bootstrap, (f"{settings.topic_prefix}.jobs",), 2)

    async def handle(job: Job) -> None:
        return None

    runtime = consumer(settings, "probed", handle)
    runtimes.append(runtime)
    assert runtime.probes is not None
    await runtime.probes.start()
    status, body = await probe(runtime.probes.port, "/readyz")
    assert status == 503
    assert body["waiting_for"] == [f"{settings.group_prefix}.jobs"]
    assert (await probe(runtime.probes.port, "/livez"))[0] == 200

    await runtime.broker.start()
    port = runtime.probes.port
    await until(lambda: _status(port, "/readyz", 200))
    assert (await probe(port, "/livez"))[0] == 200
    assert (await probe(port, "/nowhere"))[0] == 404


async def _status(port: int, path: str, wanted: int) -> bool:
    return (await probe(port, path))[0] == wanted


async def test_a_handler_holding_a_poll_past_the_bound_makes_the_consumer_not_live(
    settings: ServiceSettings, runtimes: list[Runtime]
) -> None:
    topic = f"{settings.topic_prefix}.jobs"
    await ensure_topics(settings.kafka_bootstrap, (topic,), 1)
    release = asyncio.Event()

    async def stuck(job: Job) -> None:
        await release.wait()

    runtime = consumer(settings, "stuck", stuck, handler_stall_s=1.0)
    runtimes.append(runtime)
    assert runtime.probes is not None
    await runtime.probes.start()
    await runtime.broker.start()
    await publish(runtime.broker, topic, "k", Job(n=1))
    port = runtime.probes.port

    await until(lambda: _status(port, "/livez", 503))
    status, body = await probe(port, "/livez")
    assert status == 503
    assert body["stalled"][0].startswith(f"{topic}/0 held"), body
    release.set()
    await until(lambda: _status(port, "/livez", 200))


async def test_a_partition_moves_to_a_new_member_only_once_its_record_is_done(
    settings: ServiceSettings, runtimes: list[Runtime]
) -> None:
    topic = f"{settings.topic_prefix}.jobs"
    await ensure_topics(settings.kafka_bootstrap, (topic,), 1)
    handled: list[tuple[str, int, float, float]] = []
    began = asyncio.Event()

    def worker(name: str, seconds: float) -> Any:
        async def handle(job: Job) -> None:
            start = time.monotonic()
            began.set()
            await asyncio.sleep(seconds)
            handled.append((name, job.n, start, time.monotonic()))

        return handle

    first = consumer(settings, "first", worker("first", 4.0))
    runtimes.append(first)
    await first.broker.start()
    await publish(first.broker, topic, "k", Job(n=1))
    await asyncio.wait_for(began.wait(), timeout=60)

    assigned_at: list[float] = []

    async def note(partitions: set[Any]) -> None:
        if partitions:
            assigned_at.append(time.monotonic())

    second = consumer(settings, "second", worker("second", 0.0))
    second.health.follow(f"{settings.group_prefix}.jobs", note)
    first.health.follow(f"{settings.group_prefix}.jobs", note)
    runtimes.append(second)
    await second.broker.start()  # a rebalance, while the first holds the record

    await until(lambda: _true(len(handled) == 1 and assigned_at != []))
    await asyncio.sleep(3)  # room for a wrongful second handling to show
    assert [(name, n) for name, n, _, _ in handled] == [("first", 1)]
    assert min(assigned_at) >= handled[0][3], "the partition moved while its record was held"


async def _true(value: bool) -> bool:
    return value


async def test_a_poll_is_committed_while_its_partitions_are_still_held(
    settings: ServiceSettings, runtimes: list[Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebalance (or the group's other consumer leaving on SIGTERM) waits only for held
    records; a commit made after they are released could be refused by that rebalance,
    leaving the poll's outputs without their commit."""
    topic = f"{settings.topic_prefix}.jobs"
    await ensure_topics(settings.kafka_bootstrap, (topic,), 2)
    handled: list[int] = []

    async def handle(job: Job) -> None:
        handled.append(job.n)

    one_by_one = consumer(settings, "one-by-one", handle)
    in_polls = build_runtime("in-polls", settings.model_copy(update={"health_port": 0}))
    in_polls.consume(topic, "polls", Job, handle, batch=True)
    held_at_commit: list[bool] = []
    commit = AIOKafkaConsumer.commit

    async def watched(self: AIOKafkaConsumer, *args: Any, **kwargs: Any) -> None:
        mine = one_by_one if self._group_id.endswith(".jobs") else in_polls
        held_at_commit.append(mine.health.holds_any(self.assignment()))
        await commit(self, *args, **kwargs)

    monkeypatch.setattr(AIOKafkaConsumer, "commit", watched)
    for runtime in (one_by_one, in_polls):
        runtimes.append(runtime)
        await runtime.broker.start()
    for n in range(20):
        await publish(one_by_one.broker, topic, f"k{n}", Job(n=n))

    await until(lambda: _true(len(handled) == 40))
    assert held_at_commit, "nothing was committed"
    assert all(held_at_commit), "a poll was committed after its partitions were released"
