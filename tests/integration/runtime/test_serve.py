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

from crm_runtime.bus import ensure_topics
from crm_runtime.service import build_runtime, serve
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
