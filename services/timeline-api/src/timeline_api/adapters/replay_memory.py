"""In-memory stand-ins for the replay's ports (``ports.operations.ReplayLog``,
``ports.operations.ReplayJobs``), for fast tests of the use case; the contract tests run
them beside Kafka and MongoDB."""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from crm_schemas.replay import ReplayKind
from timeline_api.domain.replay import LogStart, ReplayJob, ReplayScope, Span
from timeline_api.ports.operations import Copied


@dataclass(frozen=True)
class Stored:
    """A record of a topic: its offset, time, key and value."""

    offset: int
    at: datetime
    key: bytes
    value: bytes


@dataclass
class Partitioned:
    """A topic's partitions, each its records in offset order, and where it begins."""

    partitions: dict[int, list[Stored]] = field(default_factory=lambda: {0: [], 1: []})
    policy: str = "compact"
    ends: dict[int, int] = field(default_factory=dict)

    def append(self, partition: int, at: datetime, key: bytes, value: bytes) -> int:
        """Add a record at the partition's end; its offset."""
        offset = self.ends.get(partition, 0)
        self.partitions[partition].append(Stored(offset, at, key, value))
        self.ends[partition] = offset + 1
        return offset

    def drop_before(self, partition: int, offset: int) -> None:
        """Delete the records before ``offset`` (retention)."""
        self.partitions[partition] = [r for r in self.partitions[partition] if r.offset >= offset]

    def start(self, partition: int) -> int:
        records = self.partitions[partition]
        return records[0].offset if records else self.ends.get(partition, 0)


class InMemoryReplayLog:
    """Raw and replay topics as lists, and the committed offsets of the groups."""

    def __init__(self) -> None:
        self.raw: dict[ReplayKind, Partitioned] = {"mail": Partitioned(), "calendar": Partitioned()}
        self.replayed: dict[ReplayKind, Partitioned] = {
            "mail": Partitioned(policy="delete"),
            "calendar": Partitioned(policy="delete"),
        }
        self.settings_ends: dict[int, int] = {0: 0}
        self.readers: list[dict[int, int]] = [{}, {}]
        self.committed: dict[ReplayKind, dict[int, int]] = {"mail": {}, "calendar": {}}
        self.copy_limit: int | None = None  # records read per call, to make slices

    async def log_starts(self, kind: ReplayKind) -> tuple[str, str, list[LogStart]]:
        topic = self.raw[kind]
        starts = []
        for p, records in topic.partitions.items():
            first = topic.start(p)
            starts.append(LogStart(p, first, records[0].at if records and first > 0 else None))
        return f"{kind}.raw", topic.policy, starts

    async def bounds(self, kind: ReplayKind, since: datetime | None) -> dict[int, Span]:
        topic, spans = self.raw[kind], {}
        for p, records in topic.partitions.items():
            end = topic.ends.get(p, 0)
            after = [r.offset for r in records if since is None or r.at >= since]
            spans[p] = (after[0] if after else end, end)
        return spans

    async def settings_end(self) -> dict[int, int]:
        return dict(self.settings_ends)

    async def settings_readers(self) -> list[dict[int, int]]:
        return [dict(r) for r in self.readers]

    async def copy(
        self, kind: ReplayKind, spans: Mapping[int, Span], scope: ReplayScope, until: float
    ) -> Copied:
        source, target = self.raw[kind], self.replayed[kind]
        next_at: dict[int, int] = {}
        written: dict[int, Span] = {}
        copied = 0
        budget = self.copy_limit
        for p, (first, end) in spans.items():
            next_at[p] = first
            for record in (r for r in source.partitions[p] if first <= r.offset < end):
                if budget is not None and budget <= 0:
                    break
                body = json.loads(record.value)
                if scope.selects(body.get("workspace_id"), body.get("account_id")):
                    at = target.append(p, record.at, record.key, record.value)
                    low, high = written.get(p, (at, at + 1))
                    written[p] = (min(low, at), max(high, at + 1))
                    copied += 1
                next_at[p] = record.offset + 1
                budget = None if budget is None else budget - 1
            if budget is None or budget > 0:
                next_at[p] = end
        return Copied(next=next_at, copied=copied, written=written)

    async def processed(self, kind: ReplayKind) -> dict[int, int]:
        return dict(self.committed[kind])


class InMemoryReplayJobs:
    """Replay jobs in a dict, by id."""

    def __init__(self) -> None:
        self.stored: dict[str, ReplayJob] = {}

    async def save(self, job: ReplayJob) -> None:
        self.stored[job.job_id] = job

    async def job(self, job_id: str) -> ReplayJob | None:
        return self.stored.get(job_id)
