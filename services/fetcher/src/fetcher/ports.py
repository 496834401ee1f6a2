"""The small interfaces the sync jobs need; adapters implement them, fakes stand in."""

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from pydantic import BaseModel, SecretStr

from crm_runtime.bus import Outgoing as Outgoing  # the port publishes what the bus does
from crm_schemas.config import CalDavConnection, ImapConnection
from fetcher.domain.model import (
    CalendarChanges,
    CalendarInfo,
    CalendarResource,
    CalendarState,
    FetchedMessage,
    Folder,
    FolderCursor,
    FolderState,
    ItemKey,
)


class Mailbox(Protocol):
    """One open, read-only session on a mailbox."""

    async def folders(self) -> list[Folder]:
        """Every folder, with its flags."""
        ...

    async def examine(self, folder: str) -> FolderState:
        """Open a folder read-only (nothing in it can change, not even \\Seen)."""
        ...

    async def uids_after(self, last_uid: int) -> list[int]:
        """The UIDs above ``last_uid`` in the examined folder, ascending."""
        ...

    async def uids_before(self, uid: int) -> list[int]:
        """The UIDs below ``uid`` in the examined folder, ascending."""
        ...

    async def fetch(self, uids: Sequence[int], text_bytes: int) -> list[FetchedMessage]:
        """Headers and the first ``text_bytes`` of the text of these messages."""
        ...


class MailboxOpener(Protocol):
    """Log in to a mailbox; raises SyncProblem when it cannot."""

    def __call__(
        self, connection: ImapConnection, password: SecretStr
    ) -> AbstractAsyncContextManager[Mailbox]: ...


class CalendarReader(Protocol):
    """Reads the calendars of an account; raises SyncProblem when it cannot."""

    async def calendars(
        self, connection: CalDavConnection, password: SecretStr
    ) -> list[CalendarInfo]:
        """Discovery: the calendars of the account's principal (its calendar home set)."""
        ...

    async def changes(
        self, connection: CalDavConnection, password: SecretStr, url: str, token: str | None
    ) -> CalendarChanges:
        """The objects changed and removed since ``token`` (everything when None/expired)."""
        ...

    async def fetch(
        self, connection: CalDavConnection, password: SecretStr, url: str, hrefs: Sequence[str]
    ) -> tuple[CalendarResource, ...]:
        """The current data of these objects of a calendar (those that still exist)."""
        ...


class CalendarStateStore(Protocol):
    """Where each calendar's sync stands, and which items each of its objects published."""

    async def load(self, account_id: str, calendar_url: str) -> CalendarState | None:
        """The calendar's state, None before its first sync."""
        ...

    async def save(self, account_id: str, calendar_url: str, state: CalendarState) -> None:
        """Store the calendar's state; call only once what it covers is published."""
        ...

    async def calendar_urls(self, account_id: str) -> list[str]:
        """The calendars of an account that have a state (synced at least once)."""
        ...

    async def forget_calendar(self, account_id: str, calendar_url: str) -> None:
        """Forget a calendar's state (its objects are forgotten with ``forget``)."""
        ...

    async def items(
        self, account_id: str, calendar_url: str, hrefs: Sequence[str]
    ) -> dict[str, list[ItemKey]]:
        """The occurrences each of these objects published last time (none: no entry)."""
        ...

    async def save_items(
        self,
        account_id: str,
        calendar_url: str,
        items: Mapping[str, Sequence[ItemKey]],
        first_time: Collection[str] = (),
    ) -> None:
        """Remember the occurrences each of these objects published, in one round trip or
        two; ``first_time``: the objects never saved before (their lookups are skipped)."""
        ...

    async def forget(self, account_id: str, calendar_url: str, hrefs: Sequence[str]) -> None:
        """Forget deleted objects, in one round trip."""
        ...


class CursorStore(Protocol):
    """Where each folder's import stands."""

    async def load(self, account_id: str, folder: str) -> FolderCursor | None:
        """The folder's cursor, None before its first import."""
        ...

    async def save(self, account_id: str, folder: str, cursor: FolderCursor) -> None:
        """Store the folder's cursor; call only once what it covers is published."""
        ...


class Publisher(Protocol):
    """Publishes events under their keys, returning once they are durable."""

    async def __call__(self, topic: str, key: str, event: BaseModel) -> None:
        """One event."""
        ...

    async def many(self, outgoing: Sequence[Outgoing]) -> None:
        """Every event of a batch at once (in order within a topic and key): far cheaper
        than one publish each."""
        ...


class PasswordReader(Protocol):
    """The plain password behind a stored ciphertext; raises SyncProblem when unreadable."""

    def __call__(self, sealed: str, protocol: str) -> SecretStr: ...
