"""Plain values the adapters hand to the core and the core hands back."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Folder:
    """A mailbox folder as listed by the server."""

    name: str  # as the server spells it (modified UTF-7), used in commands
    flags: frozenset[str] = frozenset()
    delimiter: str | None = "/"

    @property
    def selectable(self) -> bool:
        """Whether the folder can hold messages (``\\Noselect`` ones cannot)."""
        lowered = {f.lower() for f in self.flags}
        return not lowered & {"\\noselect", "\\nonexistent"}


@dataclass(frozen=True, slots=True)
class FolderState:
    """What EXAMINE tells about a folder; ``highestmodseq`` is 0 without CONDSTORE."""

    uidvalidity: int
    exists: int = 0
    highestmodseq: int = 0


@dataclass(frozen=True, slots=True)
class MessagePart:
    """One leaf part of a message's structure (IMAP BODYSTRUCTURE), never its content."""

    content_type: str
    params: tuple[tuple[str, str], ...] = ()
    disposition: str | None = None
    filename: str | None = None
    size: int | None = None
    encoding: str | None = None

    def param(self, name: str) -> str | None:
        """A Content-Type parameter by case-insensitive name."""
        return next((v for k, v in self.params if k.lower() == name.lower()), None)


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    """One message as fetched: its header, its structure and at most the first bytes of
    its text (only fetched when the mailbox's visibility needs the body)."""

    uid: int
    header: bytes
    text: bytes = b""
    internal_date: datetime | None = None
    size: int | None = None
    parts: tuple[MessagePart, ...] | None = None


@dataclass(frozen=True, slots=True)
class FolderCursor:
    """How far a folder has been imported: every UID from ``backfill_below`` (or from 1
    when it is 0) up to ``last_uid`` is published.

    A first import goes newest first: it starts at the highest UID and moves
    ``backfill_below`` down; mail that arrives later is above ``last_uid`` and moves it
    up. Either edge moves only once the batch behind it is published.
    """

    uidvalidity: int
    last_uid: int = 0
    done: int = 0
    backfill_below: int = 0
    highestmodseq: int = 0  # the folder's HIGHESTMODSEQ when it was last fully synced

    def unchanged(self, state: "FolderState") -> bool:
        """Whether the folder is fully synced and nothing changed in it since (CONDSTORE,
        RFC 7162: any new message raises HIGHESTMODSEQ), so it need not even be searched."""
        return (
            state.highestmodseq > 0
            and state.uidvalidity == self.uidvalidity
            and state.highestmodseq == self.highestmodseq
            and not self.backfill_pending
        )

    @property
    def backfill_pending(self) -> bool:
        """Whether older messages of the first import are still to come."""
        return self.backfill_below > 1


@dataclass(frozen=True, slots=True)
class CalendarResource:
    """One calendar object resource: its iCalendar text and where it lives."""

    calendar: str
    href: str
    ical: str
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class CalendarInfo:
    """A calendar collection found by discovery."""

    url: str
    name: str
    components: frozenset[str] = frozenset()  # supported components; empty when unknown


@dataclass(frozen=True, slots=True)
class CalendarChanges:
    """What changed in a calendar since a sync token.

    ``full``: ``changed`` is every object of the calendar (first sync, an expired token, or
    a server without sync tokens), so a known object missing from it was deleted.
    """

    token: str | None
    full: bool
    changed: tuple[CalendarResource, ...] = ()
    removed: tuple[str, ...] = ()


ItemKey = tuple[str, str | None]  # (iCal UID, recurrence id) of one published occurrence


@dataclass(frozen=True, slots=True)
class CalendarState:
    """How far a calendar is synced: its token, the etag of every object seen, which
    objects hold a recurring series, and the window end those series were expanded to."""

    token: str | None = None
    objects: tuple[tuple[str, str | None], ...] = ()  # (href, etag)
    series: tuple[str, ...] = ()  # hrefs of the objects holding a recurring series
    expanded_until: datetime | None = None
