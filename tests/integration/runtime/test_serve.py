"""A service's run on the real Kafka: a SIGTERM while it is still starting stops it whole.

Kubernetes may stop a pod at any moment, its start included (a rollout, a scale-in). The
consumers a service starts one after the other must all be stopped, and leave their
groups, whenever the signal comes.
"""

import asyncio
import os
import signal
import time

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import BaseModel
from pymongo.errors import AutoReconnect

from crm_runtime.bus import ensure_topics
from crm_runtime.service import build_runtime, running, serve
from crm_runtime.settings import ServiceSettings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SUBSCRIBERS = 6


class Job(BaseModel):
    n: int


async def members(bootstrap: str, groups: list[str]) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        count = 0
        for name in groups:  # one at a time: aiokafka misreads an answer about several
            (response,) = await admin.describe_consumer_groups([name])
            count += sum(len(group[5]) for group in response.groups)
        return count
    finally:
        await admin.close()


async def test_a_sigterm_during_the_start_stops_every_consumer_and_leaves_every_group(
    settings: ServiceSettings,
) -> None:
    topics = [f"{settings.topic_prefix}.start{i}" for i in range(SUBSCRIBERS)]
    await ensure_topics(settings.kafka_bootstrap, topics, 1)
    runtime = build_runtime("starting", settings.model_copy(update={"shutdown_grace_s": 20.0}))

    async def handle(job: Job) -> None:
        return None

    for i, topic in enumerate(topics):
        runtime.consume(topic, f"start{i}", Job, handle, batch=True)
    served = asyncio.create_task(serve(runtime))
    subscribers = list(runtime.broker.subscribers)
    deadline = time.monotonic() + 60
    while not any(getattr(s, "running", False) for s in subscribers):  # the start is under way
        assert not served.done(), "the service ended before its consumers started"
        assert time.monotonic() < deadline, "the consumers never started"
        await asyncio.sleep(0)
    assert not all(s.running for s in subscribers), "the start was over before the signal"

    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(served, timeout=30)

    assert not any(s.running for s in subscribers), "a consumer went on after the stop"
    groups = [settings.group(f"start{i}") for i in range(SUBSCRIBERS)]
    assert await members(settings.kafka_bootstrap, groups) == 0, "a consumer kept its group"


async def test_a_start_waits_for_a_database_that_drops_its_connection_and_then_starts(
    settings: ServiceSettings,
) -> None:
    """FerretDB closes the connection of one of two replicas creating the same index at
    once (a server-side panic): the start tries again instead of ending the process."""
    runtime = build_runtime("patient", settings.model_copy(update={"outage_max_wait_s": 0.2}))
    tries: list[float] = []

    async def indexes() -> None:
        tries.append(time.monotonic())
        if len(tries) < 3:
            raise AutoReconnect("connection closed")

    runtime.on_start.append(indexes)
    async with running(runtime, consume=False):
        assert len(tries) == 3
    assert runtime.outages.waiting_for == []


async def test_a_start_hook_failing_on_its_own_is_not_tried_again(
    settings: ServiceSettings,
) -> None:
    runtime = build_runtime("broken", settings)
    tries: list[int] = []

    async def broken() -> None:
        tries.append(1)
        raise ValueError("a bug, not an outage")

    runtime.on_start.append(broken)
    with pytest.raises(ValueError, match="a bug"):
        async with running(runtime, consume=False):
            pass
    assert tries == [1]


async def test_a_start_gives_up_once_its_patience_is_spent(settings: ServiceSettings) -> None:
    patience = {"start_patience_s": 1.0, "outage_max_wait_s": 0.2}
    runtime = build_runtime("impatient", settings.model_copy(update=patience))

    async def down() -> None:
        raise AutoReconnect("still down")

    runtime.on_start.append(down)
    started = time.monotonic()
    with pytest.raises(AutoReconnect):
        async with running(runtime, consume=False):
            pass
    assert 1.0 <= time.monotonic() - started < 10
