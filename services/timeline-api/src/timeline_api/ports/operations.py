"""The ports of an operator's work: every service's dead letters (``DeadLetters``) and
replays (``ReplayLog``, ``ReplayJobs``)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from timeline_api.domain.dead_letters import DeadLetterQuery, ErrorCount, StoredDeadLetter
from timeline_api.domain.pagination import Cursor
from timeline_api.domain.replay import LogStart, ReplayJob, ReplayKind, ReplayScope, Span


class DeadLetters(Protocol):
    """The dead letters of every service, kept by id (source topic, partition, offset)."""

    async def record(self, letters: Sequence[StoredDeadLetter]) -> None:
        """Keep dead letters; one kept already keeps whether it was re-driven."""
        ...

    async def letter(self, letter_id: str) -> StoredDeadLetter | None:
        """One dead letter with its payload, or None."""
        ...

    async def page(
        self, query: DeadLetterQuery, after: Cursor | None, limit: int
    ) -> list[StoredDeadLetter]:
        """Up to ``limit`` dead letters the query asks for, newest first, after the
        cursor (by failure time, then id), without their payloads."""
        ...

    async def counts(self, query: DeadLetterQuery) -> list[ErrorCount]:
        """How many dead letters the query asks for, by source topic and error type."""
        ...

    async def pending(self, query: DeadLetterQuery, limit: int) -> list[StoredDeadLetter]:
        """Up to ``limit`` dead letters the query asks for that were not re-driven yet,
        oldest first, with their payloads."""
        ...

    async def mark_retried(self, letter_ids: Sequence[str], at: datetime, by: str) -> None:
        """Note that these dead letters were re-driven, when and by whom."""
        ...


@dataclass(frozen=True, slots=True)
class Copied:
    """What a slice of copying did: where reading stands in each partition, how many
    records were the job's (and copied), and the offsets they got on the replay topic."""

    next: dict[int, int]
    copied: int
    written: dict[int, Span]


class ReplayLog(Protocol):
    """The raw topics a replay reads, the replay topics it writes, and the consumer groups
    whose progress it follows (docs/adr/0022)."""

    async def log_starts(self, kind: ReplayKind) -> tuple[str, str, list[LogStart]]:
        """The raw topic's name, its cleanup policy, and where each partition begins now."""
        ...

    async def bounds(self, kind: ReplayKind, since: datetime | None) -> dict[int, Span]:
        """Per partition of the raw topic: from the first offset written at or after
        ``since`` (the beginning, when None) up to the end offset now."""
        ...

    async def settings_end(self) -> dict[int, int]:
        """The config topic's end offsets now."""
        ...

    async def settings_readers(self) -> list[dict[int, int]]:
        """What each group that applies the settings (matcher, enricher) has committed of
        the config topic."""
        ...

    async def copy(
        self, kind: ReplayKind, spans: Mapping[int, Span], scope: ReplayScope, until: float
    ) -> Copied:
        """Copy the records of ``spans`` that ``scope`` selects from the raw topic to the
        replay topic, unchanged and durably, until done or the monotonic time ``until``."""
        ...

    async def processed(self, kind: ReplayKind) -> dict[int, int]:
        """What the matcher's replay group has committed of the replay topic, per
        partition."""
        ...


class ReplayJobs(Protocol):
    """Replay jobs by id: what each replays, its bounds and its progress."""

    async def save(self, job: ReplayJob) -> None:
        """Store the job's current state (by its id)."""
        ...

    async def job(self, job_id: str) -> ReplayJob | None:
        """The job, or None."""
        ...
