"""In-memory stand-ins for the ports, for fast tests of the sync jobs."""

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from pydantic import BaseModel, SecretStr

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
from fetcher.domain.problems import ProblemKind, SyncProblem
from fetcher.ports import Outgoing


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
    highestmodseq: int = 0  # 0: a server without CONDSTORE
    searches: int = 0

    def append(self, raw: bytes) -> int:
        """Add a message, as APPEND would (a CONDSTORE server raises its modseq)."""
        uid = max(self.messages, default=0) + 1
        self.messages[uid] = raw
        if self.highestmodseq:
            self.highestmodseq += 1
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
        return FolderState(found.uidvalidity, len(found.messages), found.highestmodseq)

    async def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above ``last_uid``."""
        assert self.examined is not None
        self.folders_by_name[self.examined].searches += 1
        return sorted(u for u in self.folders_by_name[self.examined].messages if u > last_uid)

    async def uids_before(self, uid: int) -> list[int]:
        """UIDs below ``uid``."""
        assert self.examined is not None
        return sorted(u for u in self.folders_by_name[self.examined].messages if u < uid)

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
    """Calendars handed out as a CalDAV server with sync tokens would.

    Every change bumps a version; a token is a version. A known token gets the changes
    since it; ``None`` or an unknown (expired) token gets everything.
    """

    resources: list[CalendarResource] = field(default_factory=list)
    password: str = "secret"  # noqa: S105 - a fake's fixed password
    infos: list[CalendarInfo] = field(
        default_factory=lambda: [CalendarInfo("/cal/work/", "Work", frozenset({"VEVENT"}))]
    )
    version: int = 0
    log: list[tuple[int, str, bool]] = field(default_factory=list)  # (version, href, removed)
    changes_asked: list[str | None] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)  # hrefs asked for by ``fetch``

    def put(self, resource: CalendarResource) -> None:
        """Add or replace an object, as a PUT would."""
        self.resources = [r for r in self.resources if r.href != resource.href] + [resource]
        self.version += 1
        self.log.append((self.version, resource.href, False))

    def delete(self, href: str) -> None:
        """Delete an object, as a DELETE would."""
        self.resources = [r for r in self.resources if r.href != href]
        self.version += 1
        self.log.append((self.version, href, True))

    def _check(self, password: SecretStr) -> None:
        if password.get_secret_value() != self.password:
            raise SyncProblem(ProblemKind.AUTH, "CalDAV", "wrong password")

    async def calendars(
        self, connection: CalDavConnection, password: SecretStr
    ) -> list[CalendarInfo]:
        """The calendars of the fake principal."""
        self._check(password)
        return list(self.infos)

    async def changes(
        self, connection: CalDavConnection, password: SecretStr, url: str, token: str | None
    ) -> CalendarChanges:
        """Changes since a known token; everything otherwise (one calendar holds it all)."""
        self._check(password)
        self.changes_asked.append(token)
        now = str(self.version)
        known = token is not None and token.isdigit() and int(token) <= self.version
        if not known:
            return CalendarChanges(now, True, tuple(self.resources))
        since = [e for e in self.log if e[0] > int(str(token))]
        hrefs = dict.fromkeys(href for _, href, _ in since)
        by_href = {r.href: r for r in self.resources}
        changed = tuple(by_href[h] for h in hrefs if h in by_href)
        removed = tuple(h for h in hrefs if h not in by_href)
        return CalendarChanges(now, False, changed, removed)

    async def fetch(
        self, connection: CalDavConnection, password: SecretStr, url: str, hrefs: Sequence[str]
    ) -> tuple[CalendarResource, ...]:
        """The current data of these objects."""
        self._check(password)
        self.fetched.extend(hrefs)
        wanted = set(hrefs)
        return tuple(r for r in self.resources if r.href in wanted)


class InMemoryCalendarStates:
    """Calendar states and per-object items in dicts."""

    def __init__(self) -> None:
        self.states: dict[tuple[str, str], CalendarState] = {}
        self.objects: dict[tuple[str, str, str], list[ItemKey]] = {}

    async def load(self, account_id: str, calendar_url: str) -> CalendarState | None:
        """The calendar's state."""
        return self.states.get((account_id, calendar_url))

    async def save(self, account_id: str, calendar_url: str, state: CalendarState) -> None:
        """Store the calendar's state."""
        self.states[(account_id, calendar_url)] = state

    async def calendar_urls(self, account_id: str) -> list[str]:
        """The calendars of an account that have a state."""
        return [url for account, url in self.states if account == account_id]

    async def forget_calendar(self, account_id: str, calendar_url: str) -> None:
        """Forget a calendar's state."""
        self.states.pop((account_id, calendar_url), None)

    async def items(
        self, account_id: str, calendar_url: str, hrefs: Sequence[str]
    ) -> dict[str, list[ItemKey]]:
        """The occurrences each object published."""
        found = {h: self.objects.get((account_id, calendar_url, h)) for h in hrefs}
        return {h: list(keys) for h, keys in found.items() if keys is not None}

    async def save_items(
        self,
        account_id: str,
        calendar_url: str,
        items: Mapping[str, Sequence[ItemKey]],
        first_time: Collection[str] = (),
    ) -> None:
        """Remember each object's occurrences."""
        for href, keys in items.items():
            self.objects[(account_id, calendar_url, href)] = list(keys)

    async def forget(self, account_id: str, calendar_url: str, hrefs: Sequence[str]) -> None:
        """Forget objects."""
        for href in hrefs:
            self.objects.pop((account_id, calendar_url, href), None)


@dataclass
class RecordingPublisher:
    """Keeps what is published, by topic, in order."""

    sent: list[Outgoing] = field(default_factory=list)

    async def __call__(self, topic: str, key: str, event: BaseModel) -> None:
        """Record one publish."""
        self.sent.append((topic, key, event))

    async def many(self, outgoing: Sequence[Outgoing]) -> None:
        """Record a batch of publishes, in order."""
        self.sent.extend(outgoing)

    def on(self, topic: str) -> list[BaseModel]:
        """Events published on one topic."""
        return [event for t, _, event in self.sent if t == topic]


class PlainPasswords:
    """Passwords stored as they are (tests only)."""

    def __call__(self, sealed: str, protocol: str) -> SecretStr:
        """The 'sealed' text itself."""
        return SecretStr(sealed)
