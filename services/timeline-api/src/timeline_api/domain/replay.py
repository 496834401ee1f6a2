"""Replays of the raw topics, as rules (docs/adr/0022): what a job selects, whether a topic
still holds the range asked for, how far a job has come.

A replay job copies the records of mail.raw and calendar.raw, from the offsets of its
"since" time up to the end offsets it took when it started, into the replay topics,
unchanged; the matcher processes them there with the live handlers in groups of its own.
Its progress is two counts: records read of the raw range (and how many were the job's
to copy), then records the matcher has processed of what the job wrote.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crm_schemas.base import Event, utcnow
from crm_schemas.replay import ReplayKind

__all__ = ["ReplayKind"]

JobState = Literal["queued", "waiting", "copying", "processing", "done"]
"""queued (asked for), waiting (until the services have read the settings in force when
it was asked for), copying (raw records into the replay topics), processing (the matcher
has not processed all of them yet), done. A job whose last slice failed keeps its state
and says why in ``error``."""

Span = tuple[int, int]
"""(first, end) offsets of one partition: from ``first`` up to, not including, ``end``."""


class ReplayRequested(Event):
    """A replay job to run, or to carry on (a job runs in slices of bounded time). Keyed by
    job id on ``replay.jobs``, so one consumer runs each job; the job's bounds and progress
    are in its stored record, so a redelivery resumes it."""

    schema_version: Literal[1] = 1
    job_id: str


@dataclass(frozen=True, slots=True)
class ReplayScope:
    """Whose items a replay reprocesses: a workspace's (or one account's of it), or, for
    an operator, everyone's (no workspace)."""

    workspace_id: str | None = None
    account_id: str | None = None

    def selects(self, workspace_id: object, account_id: object) -> bool:
        """Whether an item of this workspace and account is the replay's."""
        if self.workspace_id is not None and workspace_id != self.workspace_id:
            return False
        return self.account_id is None or account_id == self.account_id


@dataclass(frozen=True, slots=True)
class LogStart:
    """Where one partition of a topic begins now: its first offset, and the time of its
    first record (None when it has none)."""

    partition: int
    offset: int
    earliest: datetime | None


def missing_history(
    topic: str, cleanup_policy: str, starts: Iterable[LogStart], since: datetime | None
) -> str | None:
    """Why ``topic`` no longer holds everything written since ``since`` (everything, when
    None), or None when it does.

    A compacted topic keeps the newest record of every key for good, so it holds the
    newest version of every copy ever written. A topic with ``delete`` retention that
    has dropped records (a partition no longer begins at offset 0) holds nothing older
    than its first record.
    """
    if "delete" not in cleanup_policy.split(","):
        return None
    lost = [s for s in starts if s.offset > 0]
    if not lost:
        return None
    oldest = max((s.earliest for s in lost if s.earliest is not None), default=None)
    if since is not None and oldest is not None and oldest <= since:
        return None
    held = f"it holds records from {oldest.isoformat()} on" if oldest else "it holds none"
    asked = f"since {since.isoformat()}" if since is not None else "from the beginning"
    return (
        f"{topic} no longer holds what a replay {asked} needs: {held} (cleanup.policy="
        f"{cleanup_policy}: older records were deleted). Replay from a later time, or make "
        "the raw topics compacted (docs/replay.md)."
    )


class Progress(BaseModel):
    """How far one step of a job has come."""

    model_config = ConfigDict(frozen=True)

    done: int
    total: int


class ReplayJob(BaseModel):
    """A replay job as stored by its id: what it replays, its bounds once it started, and
    how far it has come."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    scope_workspace_id: str | None = None
    scope_account_id: str | None = None
    kinds: tuple[ReplayKind, ...]
    since: datetime | None = None
    requested_by: str
    requested_at: datetime = Field(default_factory=utcnow)
    state: JobState = "queued"
    error: str | None = None
    settings_at: dict[int, int] = Field(
        default_factory=dict, description="The config topic's end offsets when asked for."
    )
    bounds: dict[ReplayKind, dict[int, Span]] | None = Field(
        default=None, description="Per raw topic and partition, the range to copy."
    )
    next: dict[ReplayKind, dict[int, int]] = Field(
        default_factory=dict, description="Per raw topic and partition, the next to read."
    )
    copied: int = 0
    written: dict[ReplayKind, dict[int, Span]] = Field(
        default_factory=dict, description="Per replay topic and partition, what it wrote."
    )
    finished_at: datetime | None = None

    @property
    def scope(self) -> ReplayScope:
        """Whose items it replays."""
        return ReplayScope(self.scope_workspace_id, self.scope_account_id)

    def read(self) -> Progress:
        """Records of the raw ranges read so far, of all of them."""
        bounds = self.bounds or {}
        total = sum(end - first for spans in bounds.values() for first, end in spans.values())
        done = sum(
            min(self.next.get(kind, {}).get(p, first), end) - first
            for kind, spans in bounds.items()
            for p, (first, end) in spans.items()
        )
        return Progress(done=done, total=total)

    def copy_finished(self) -> bool:
        """Whether every raw range has been read to its end."""
        read = self.read()
        return self.bounds is not None and read.done >= read.total


def processed(
    written: Mapping[ReplayKind, Mapping[int, Span]],
    committed: Mapping[ReplayKind, Mapping[int, int]],
) -> Progress:
    """Of the records a job wrote to the replay topics, how many the matcher's replay
    groups have processed (committed), partition by partition. Records another job wrote
    between the first and the last of this one's count too: jobs that overlap share
    their progress."""
    total = done = 0
    for kind, spans in written.items():
        for partition, (first, end) in spans.items():
            total += end - first
            at = committed.get(kind, {}).get(partition, 0)
            done += max(0, min(at, end) - first)
    return Progress(done=done, total=total)


def settings_read(asked_at: Mapping[int, int], readers: Iterable[Mapping[int, int]]) -> bool:
    """Whether every reader group has committed the config topic up to where it ended when
    the replay was asked for (a settings change made just before is then applied)."""
    return all(
        reader.get(partition, 0) >= end for reader in readers for partition, end in asked_at.items()
    )


def widen(spans: Mapping[int, Span], wrote: Mapping[int, Span]) -> dict[int, Span]:
    """Spans of offsets written, grown by more of them."""
    merged = dict(spans)
    for partition, (first, end) in wrote.items():
        seen = merged.get(partition)
        merged[partition] = (
            (first, end) if seen is None else (min(seen[0], first), max(seen[1], end))
        )
    return merged


def kinds_for_account_change(
    mail: Iterable[str], calendar: Iterable[str], aliases: bool
) -> tuple[ReplayKind, ...]:
    """Which history a change of an account's settings is applied to: mail settings and
    the owner's addresses to its mail; calendar settings to its meetings; the blocklist
    to both (the matcher drops meetings with a blocked attendee too)."""
    changed = set(mail)
    kinds: list[ReplayKind] = []
    if changed or aliases:
        kinds.append("mail")
    if set(calendar) or "blocklist" in changed:
        kinds.append("calendar")
    return tuple(kinds)


RETROACTIVE_WORKSPACE_FIELDS = frozenset(
    {
        "domains",
        "role_addresses_add",
        "role_addresses_remove",
        "personal_domains_add",
        "personal_domains_remove",
    }
)
"""Workspace settings a replay applies to history (its name is not a rule)."""


def kinds_of(asked: Literal["mail", "calendar", "both"]) -> tuple[ReplayKind, ...]:
    """The raw topics a replay of ``asked`` reads."""
    return ("mail", "calendar") if asked == "both" else (asked,)
