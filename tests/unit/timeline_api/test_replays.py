"""Replay jobs over in-memory topics and jobs: asked for, refused, run in slices that keep
their bounds, and followed to their end."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from timeline_api.adapters.replay_memory import InMemoryReplayJobs, InMemoryReplayLog
from timeline_api.domain.replay import ReplayRequested, ReplayScope
from timeline_api.service.replay import ReplayRefusedError, Replays
from timeline_api.settings import TimelineSettings

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class World:
    def __init__(self) -> None:
        self.log = InMemoryReplayLog()
        self.jobs = InMemoryReplayJobs()
        self.queued: list[tuple[str, Any]] = []
        self.clock = Clock()
        self.replays = Replays(
            self.log, self.jobs, self._publish, slice_s=10, clock=self.clock, sleep=self._sleep
        )

    async def _sleep(self, seconds: float) -> None:
        self.clock.now += seconds

    async def _publish(self, key: str, event: Any) -> None:
        self.queued.append((key, event))

    def raw(self, kind: Any, partition: int, minutes: int, workspace: str, n: int) -> None:
        body = {"workspace_id": workspace, "account_id": f"acc-{workspace}", "n": n}
        self.log.raw[kind].append(
            partition, T0 + timedelta(minutes=minutes), f"k{n}".encode(), json.dumps(body).encode()
        )

    async def run_queued(self) -> None:
        while self.queued:
            _, request = self.queued.pop(0)
            await self.replays.run(request)


@pytest.fixture
def world() -> World:
    w = World()
    for n in range(6):
        w.raw("mail", n % 2, n, "ws-1" if n != 3 else "ws-2", n)
    w.raw("calendar", 0, 0, "ws-1", 100)
    return w


def copied_numbers(world: World, kind: Any = "mail") -> list[int]:
    topic = world.log.replayed[kind]
    return sorted(json.loads(r.value)["n"] for rs in topic.partitions.values() for r in rs)


async def test_a_job_copies_the_workspaces_records_and_is_followed_to_its_end(world: World):
    job = await world.replays.request(ReplayScope("ws-1"), ("mail",), None, "admin")
    assert world.queued == [(job.job_id, ReplayRequested(job_id=job.job_id))]

    await world.run_queued()

    assert copied_numbers(world) == [0, 1, 2, 4, 5]
    assert copied_numbers(world, "calendar") == []
    found = await world.replays.progress(job.job_id)
    assert found is not None
    stored, read, done = found
    assert (stored.state, read.done, read.total, stored.copied) == ("processing", 6, 6, 5)
    assert (done.done, done.total) == (0, 5)

    world.log.committed["mail"] = {0: 3, 1: 2}
    finished = await world.replays.progress(job.job_id)
    assert finished is not None
    assert finished[0].state == "done"
    assert finished[2].done == finished[2].total == 5
    assert finished[0].finished_at is not None


async def test_a_job_waits_until_the_settings_asked_under_are_read(world: World):
    world.log.settings_ends = {0: 4}
    world.log.readers = [{0: 4}, {0: 3}]  # the enricher is one settings change behind
    job = await world.replays.request(ReplayScope("ws-1"), ("mail",), None, "admin")
    _, request = world.queued.pop(0)
    await world.replays.run(request)  # waits out its slice

    assert world.jobs.stored[job.job_id].state == "waiting"
    assert copied_numbers(world) == []
    assert world.queued == [(job.job_id, ReplayRequested(job_id=job.job_id))], "carries on"

    world.log.readers = [{0: 4}, {0: 4}]
    await world.run_queued()
    assert copied_numbers(world) == [0, 1, 2, 4, 5]


async def test_a_job_resumed_in_slices_keeps_the_bounds_it_took_at_its_start(world: World):
    world.log.copy_limit = 2  # records read per slice
    job = await world.replays.request(ReplayScope("ws-1"), ("mail",), None, "admin")
    _, request = world.queued.pop(0)
    await world.replays.run(request)
    first = world.jobs.stored[job.job_id]
    assert first.state == "copying"
    assert first.read().done == 2
    world.raw("mail", 0, 30, "ws-1", 6)  # live traffic after the job started

    await world.run_queued()

    assert copied_numbers(world) == [0, 1, 2, 4, 5], "what came after the start is not replayed"
    assert world.jobs.stored[job.job_id].bounds == first.bounds
    assert world.jobs.stored[job.job_id].state == "processing"


async def test_a_redelivered_request_of_a_copied_job_copies_nothing_again(world: World):
    job = await world.replays.request(ReplayScope("ws-1"), ("mail",), None, "admin")
    await world.run_queued()
    await world.replays.run(ReplayRequested(job_id=job.job_id))
    assert copied_numbers(world) == [0, 1, 2, 4, 5]


async def test_a_job_since_a_time_replays_what_was_written_from_then(world: World):
    since = T0 + timedelta(minutes=4)
    await world.replays.request(ReplayScope(), ("mail", "calendar"), since, "crm-admin")
    await world.run_queued()
    assert copied_numbers(world) == [4, 5]
    assert copied_numbers(world, "calendar") == []


async def test_a_range_the_topic_no_longer_holds_is_refused_and_nothing_is_queued(world: World):
    world.log.raw["mail"].policy = "delete"
    world.log.raw["mail"].drop_before(0, 2)  # retention deleted offsets 0 and 1

    with pytest.raises(ReplayRefusedError, match="no longer holds"):
        await world.replays.request(ReplayScope("ws-1"), ("mail",), None, "admin")
    assert world.queued == []
    assert world.jobs.stored == {}
    job = await world.replays.request(ReplayScope("ws-1"), ("calendar",), None, "admin")
    assert job.kinds == ("calendar",)


async def test_a_failing_slice_leaves_its_error_on_the_job(world: World):
    job = await world.replays.request(ReplayScope("ws-1"), ("mail",), None, "admin")

    async def broken(*args: Any) -> Any:
        raise ConnectionError("broker gone")

    world.log.bounds = broken  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await world.run_queued()
    assert "broker gone" in (world.jobs.stored[job.job_id].error or "")


def test_a_slice_longer_than_half_the_rebalance_wait_is_refused_at_start() -> None:
    assert TimelineSettings(replay_slice_s=5, rebalance_wait_s=10).replay_slice_s == 5
    with pytest.raises(ValidationError, match="at most half of TIMELINE_REBALANCE_WAIT_S"):
        TimelineSettings(replay_slice_s=10, rebalance_wait_s=10)
