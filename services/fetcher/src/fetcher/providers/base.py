"""The one small interface every API provider implements, and the values it trades in.

A provider reads one or more *streams* (Gmail: the whole mailbox; Graph: one folder
each). For each stream it lists what changed since a cursor, one page at a time, and
fetches those items as the raw contracts. The sync job publishes a page's items and only
then saves the cursor the page returned, so a crash or a throttled stop resumes exactly
where the last durable page ended.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from crm_schemas.lookups import MailboxPlace
from crm_schemas.mail import RawMessage
from crm_schemas.outcomes import ItemDropped
from fetcher.domain.api_events import ApiEventDecision


class Phase(StrEnum):
    """Where a stream's sync stands: still listing everything, or following changes."""

    FULL = "full"
    INCREMENTAL = "incremental"


@dataclass(frozen=True, slots=True)
class ProviderCursor:
    """How far one stream is synced, in the provider's own terms.

    ``token``: the provider's change cursor (Gmail historyId, Graph deltaLink); during a
    full import it is the point the changes are followed from once the import is done.
    ``page``: the page to read next (a page token or nextLink), None at a page boundary.
    ``step``: which list of a multi-list full import is being read (Gmail: which label).
    ``offset``: how many items of the page this cursor lists are already published, so a
    stop in the middle of a page resumes at the next item, not at the page's start.
    The default cursor starts a full import.
    """

    phase: Phase = Phase.FULL
    token: str | None = None
    page: str | None = None
    step: int = 0
    offset: int = 0
    done: int = 0

    def at(self, offset: int, done: int) -> "ProviderCursor":
        """This cursor with ``offset`` items of its page and ``done`` items in all published."""
        return replace(self, offset=offset, done=done)


@dataclass(frozen=True, slots=True)
class ChangePage:
    """One page of changes: the items to fetch, the cursor once they are published, and
    whether more pages follow now."""

    refs: tuple[str, ...]
    cursor: ProviderCursor
    more: bool


class CursorExpired(Exception):  # noqa: N818 - a state of the provider, not a bug
    """The provider no longer knows the stored cursor (Gmail 404, Graph 410): start over."""


class Throttled(Exception):  # noqa: N818 - a state of the provider, not a bug
    """The provider kept refusing for rate reasons after every attempt: yield, resume later."""


class Quota(Protocol):
    """Spends quota units (Gmail units, Graph requests), waiting until they fit."""

    async def acquire(self, units: int) -> None: ...

    async def acquire_some(self, unit: int, wanted: int) -> int:
        """Spend ``unit`` units for as many of ``wanted`` items as fit (at least one)."""
        ...


class MailProvider(Protocol):
    """A mailbox read through a provider's API."""

    fetch_size: int  # how many refs one ``fetch`` call takes at most

    def streams(self) -> Sequence[str]:
        """The streams this mailbox is synced by, each with a cursor of its own."""
        ...

    async def changes(self, stream: str, cursor: ProviderCursor) -> ChangePage:
        """The page of changes ``cursor`` points at (the same page each time it is asked),
        and the cursor after it. Raises CursorExpired when the provider forgot the cursor."""
        ...

    async def fetch(self, stream: str, refs: Sequence[str]) -> list[RawMessage | ItemDropped]:
        """The messages behind ``refs`` that the mailbox syncs, as RawMessages (or, for one
        that cannot be read, its unreadable drop); items gone since they were listed, or
        in folders that are not synced, are left out."""
        ...

    async def locate(self, message_id: str) -> list[MailboxPlace]:
        """Every place (folder, label) the mailbox has the message, in any folder, and
        whether the account syncs it (a mailbox lookup, ``fetcher.lookups``)."""
        ...


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of calendar changes: (provider id, decision) pairs, the cursor after them,
    and whether more pages follow now."""

    decisions: tuple[tuple[str, ApiEventDecision], ...]
    cursor: ProviderCursor
    more: bool


class CalendarProvider(Protocol):
    """A calendar read through a provider's API; occurrences come expanded."""

    def streams(self) -> Sequence[str]:
        """The calendars synced, each with a cursor of its own."""
        ...

    async def changes(self, stream: str, cursor: ProviderCursor) -> EventPage:
        """The page of changes ``cursor`` points at; CursorExpired when it is forgotten."""
        ...
