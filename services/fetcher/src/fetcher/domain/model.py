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
    """What EXAMINE tells about a folder."""

    uidvalidity: int
    exists: int = 0


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    """One message as fetched: its header and the first bytes of its text, no more."""

    uid: int
    header: bytes
    text: bytes = b""
    internal_date: datetime | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class FolderCursor:
    """How far a folder has been imported: everything up to ``last_uid`` is published."""

    uidvalidity: int
    last_uid: int = 0
    done: int = 0


@dataclass(frozen=True, slots=True)
class CalendarResource:
    """One calendar object resource: its iCalendar text and where it lives."""

    calendar: str
    href: str
    ical: str
