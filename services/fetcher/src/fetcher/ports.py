"""The small interfaces the sync jobs need; adapters implement them, fakes stand in."""

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, SecretStr

from crm_schemas.config import CalDavConnection, ImapConnection
from fetcher.domain.model import CalendarResource, FetchedMessage, Folder, FolderCursor, FolderState


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

    async def fetch(self, uids: Sequence[int], text_bytes: int) -> list[FetchedMessage]:
        """Headers and the first ``text_bytes`` of the text of these messages."""
        ...


class MailboxOpener(Protocol):
    """Log in to a mailbox; raises SyncProblem when it cannot."""

    def __call__(
        self, connection: ImapConnection, password: SecretStr
    ) -> AbstractAsyncContextManager[Mailbox]: ...


class CalendarReader(Protocol):
    """Reads the calendar objects of an account; raises SyncProblem when it cannot."""

    async def __call__(
        self, connection: CalDavConnection, password: SecretStr, start: datetime, end: datetime
    ) -> list[CalendarResource]: ...


class CursorStore(Protocol):
    """Where each folder's import stands."""

    async def load(self, account_id: str, folder: str) -> FolderCursor | None:
        """The folder's cursor, None before its first import."""
        ...

    async def save(self, account_id: str, folder: str, cursor: FolderCursor) -> None:
        """Store the folder's cursor; call only once what it covers is published."""
        ...


class Publisher(Protocol):
    """Publish one event under its key, returning once it is durable."""

    async def __call__(self, topic: str, key: str, event: BaseModel) -> None: ...


class PasswordReader(Protocol):
    """The plain password behind a stored ciphertext; raises SyncProblem when unreadable."""

    def __call__(self, sealed: str, protocol: str) -> SecretStr: ...
