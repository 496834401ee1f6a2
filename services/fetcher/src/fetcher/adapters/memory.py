"""In-memory stand-ins for the ports, for fast tests of the sync jobs."""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, SecretStr

from crm_schemas.config import CalDavConnection, ImapConnection
from fetcher.domain.model import CalendarResource, FetchedMessage, Folder, FolderCursor, FolderState
from fetcher.domain.problems import ProblemKind, SyncProblem


class InMemoryCursorStore:
    """Folder cursors in a dict."""

    def __init__(self) -> None:
        self.cursors: dict[tuple[str, str], FolderCursor] = {}

    async def load(self, account_id: str, folder: str) -> FolderCursor | None:
        """The folder's cursor, None before its first import."""
        return self.cursors.get((account_id, folder))

    async def save(self, account_id: str, folder: str, cursor: FolderCursor) -> None:
        """Store the folder's cursor."""
        self.cursors[(account_id, folder)] = cursor


@dataclass
class MemoryFolder:
    """A folder of the fake mailbox."""

    flags: frozenset[str] = frozenset()
    uidvalidity: int = 1
    messages: dict[int, bytes] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)

    def append(self, raw: bytes) -> int:
        """Add a message, as APPEND would; returns its UID."""
        uid = max(self.messages, default=0) + 1
        self.messages[uid] = raw
        return uid


@dataclass
class InMemoryMailbox:
    """A mailbox of folders of raw messages, read-only through the Mailbox port."""

    password: str = "secret"  # noqa: S105 - a fake's fixed password
    folders_by_name: dict[str, MemoryFolder] = field(default_factory=dict)
    examined: str | None = None

    async def folders(self) -> list[Folder]:
        """Every folder, with its flags."""
        return [Folder(name, f.flags) for name, f in self.folders_by_name.items()]

    async def examine(self, folder: str) -> FolderState:
        """Open a folder read-only."""
        self.examined = folder
        found = self.folders_by_name[folder]
        return FolderState(found.uidvalidity, len(found.messages))

    async def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above ``last_uid``."""
        assert self.examined is not None
        return sorted(u for u in self.folders_by_name[self.examined].messages if u > last_uid)

    async def fetch(self, uids: Sequence[int], text_bytes: int) -> list[FetchedMessage]:
        """Header and bounded text of each message that still exists."""
        assert self.examined is not None
        folder = self.folders_by_name[self.examined]
        fetched = []
        for uid in uids:
            if uid in folder.messages:
                header, _, text = folder.messages[uid].partition(b"\r\n\r\n")
                fetched.append(FetchedMessage(uid, header + b"\r\n\r\n", text[:text_bytes]))
        return fetched

    @asynccontextmanager
    async def open(
        self, connection: ImapConnection, password: SecretStr
    ) -> AsyncIterator["InMemoryMailbox"]:
        """Log in, as the MailboxOpener port does."""
        if password.get_secret_value() != self.password:
            raise SyncProblem(ProblemKind.AUTH, "IMAP", "wrong password")
        yield self


@dataclass
class InMemoryCalendars:
    """Calendar resources handed out as a CalDAV server would."""

    resources: list[CalendarResource] = field(default_factory=list)
    password: str = "secret"  # noqa: S105 - a fake's fixed password

    async def __call__(
        self, connection: CalDavConnection, password: SecretStr, start: datetime, end: datetime
    ) -> list[CalendarResource]:
        """Every resource (the fake ignores the window)."""
        if password.get_secret_value() != self.password:
            raise SyncProblem(ProblemKind.AUTH, "CalDAV", "wrong password")
        return list(self.resources)


@dataclass
class RecordingPublisher:
    """Keeps what is published, by topic, in order."""

    sent: list[tuple[str, str, BaseModel]] = field(default_factory=list)

    async def __call__(self, topic: str, key: str, event: BaseModel) -> None:
        """Record one publish."""
        self.sent.append((topic, key, event))

    def on(self, topic: str) -> list[BaseModel]:
        """Events published on one topic."""
        return [event for t, _, event in self.sent if t == topic]


class PlainPasswords:
    """Passwords stored as they are (tests only)."""

    def __call__(self, sealed: str, protocol: str) -> SecretStr:
        """The 'sealed' text itself."""
        return SecretStr(sealed)
