"""The timeline read model's ports: ``TimelineReader`` for the tabs, ``ProjectionStore``,
``ThreadMerges`` and ``TimelineFeed`` for the projection, ``Conversations`` for one thread,
``MailboxLookups`` for the mailboxes' answers to explain."""

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from crm_schemas.lookups import MessageLookupAnswered
from crm_schemas.outcomes import ItemDropped
from crm_schemas.records import PersonUpserted
from timeline_api.domain.copies import CopyRemoved
from timeline_api.domain.lookups import MailboxLookup
from timeline_api.domain.model import StoredEvent, StoredMessage, ThreadSummary
from timeline_api.domain.scope import Page, PageRequest, RecordScope, Window


class TimelineReader(Protocol):
    """The read side of the timelines: a record's threads and meetings, a page at a time.

    Whatever the read model keeps, a page is the same: newest first (meetings: in the
    window's order), in the scope's workspace only, each row once, keyset-paginated.
    """

    async def threads(self, scope: RecordScope, page: PageRequest) -> Page[ThreadSummary]:
        """The threads with any address or domain of the scope."""
        ...

    async def events(
        self, scope: RecordScope, window: Window, page: PageRequest
    ) -> Page[StoredEvent]:
        """The meetings with any address or domain of the scope, starting in the window."""
        ...


@dataclass(frozen=True, slots=True)
class ThreadChange:
    """A thread summarised again after its messages changed: as it was (None: it was not
    stored) and as it is now (None: it has no message left)."""

    before: ThreadSummary | None
    after: ThreadSummary | None


@dataclass(frozen=True, slots=True)
class AccountRemoval:
    """What disconnecting an account took away: messages and meetings only it had, and
    every thread it touched."""

    messages_deleted: int
    events_deleted: int
    threads: list[ThreadChange]


class ProjectionStore(Protocol):
    """Where the projection keeps messages, threads, meetings and drops; every write an
    idempotent upsert by a deterministic id. Each account's copy of an item is taken, or
    withdrawn, only at a version at least as new as what is known of it (docs/adr/0021)."""

    async def store_messages(self, messages: list[StoredMessage]) -> list[ThreadSummary]:
        """Store each message once, adding its current sources; the summary of each thread
        that changed."""
        ...

    async def remove_messages(self, removals: list[CopyRemoved]) -> list[ThreadChange]:
        """Take each mailbox's copy away from its message (a message no mailbox has left
        goes); every thread that lost one, as it was and as it is now."""
        ...

    async def upsert_event(self, event: StoredEvent) -> None:
        """Store a meeting once, adding its current sources."""
        ...

    async def remove_event_source(self, removed: CopyRemoved) -> None:
        """Take one calendar away from a meeting; the meeting goes when none is left."""
        ...

    async def record_dropped(self, drops: list[ItemDropped]) -> None:
        """Remember why items were not synced, per account each was dropped from."""
        ...

    async def remove_account(self, account_id: str) -> AccountRemoval:
        """Take the account away as a source of everything; what only it had goes."""
        ...


class ThreadMerges(Protocol):
    """Threads that proved to be one (docs/adr/0027): where a merged thread's mail goes
    now, and its messages moved into the thread it merged into."""

    async def redirect_threads(self, redirects: Mapping[str, str]) -> None:
        """From now on, what comes for each thread goes to the one it merged into."""
        ...

    async def thread_redirects(self, thread_ids: Iterable[str]) -> dict[str, str]:
        """The thread each of these merged into, for those that did."""
        ...

    async def absorb_thread(self, into: str, gone: str) -> list[ThreadChange]:
        """Move thread ``gone``'s messages into ``into`` and summarise it again; both
        threads as they were and are (``gone`` has none left). Nothing when ``gone``
        has no message."""
        ...


MailOutbox = Callable[[Sequence[tuple[str, BaseModel]]], Awaitable[None]]
"""Publish events under their keys on timeline.messages, durably, together: the mail of a
merged thread goes on to the thread it merged into, keyed by that thread."""


class TimelineFeed(Protocol):
    """What the read side is told after the projection wrote: a read model that keeps
    structures of its own (heads, rosters) updates them; one that queries the stored
    collections directly has nothing to do."""

    async def threads_changed(self, summaries: Sequence[ThreadSummary]) -> None:
        """These threads were summarised (new messages)."""
        ...

    async def threads_replaced(self, changes: Sequence[ThreadChange]) -> None:
        """These threads were summarised again after losing messages (and maybe links)."""
        ...

    async def people_changed(self, people: Sequence[PersonUpserted]) -> None:
        """These versions of people arrived (stored or not: the records API stores its own
        versions before they come back on the records topic)."""
        ...


class Conversations(Protocol):
    """One conversation, one meeting, and what the read model knows of one message."""

    async def event(self, item_id: str) -> StoredEvent | None:
        """A meeting occurrence, or None."""
        ...

    async def thread(self, thread_id: str) -> ThreadSummary | None:
        """A thread's summary, or None."""
        ...

    async def thread_messages(self, thread_id: str, *, with_body: bool) -> list[StoredMessage]:
        """A thread's messages, oldest first."""
        ...

    async def explain_item(
        self, item_id: str
    ) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
        """A message as stored and its drop record, each None when absent."""
        ...


class MailboxLookups(Protocol):
    """Searches of a member's mailboxes for a message, and the mailboxes' answers."""

    async def start(self, lookup: MailboxLookup) -> bool:
        """Keep a new search, every mailbox of it still searching; False when a search
        with its id is kept already (and is left as it is)."""
        ...

    async def lookup(self, lookup_id: str) -> MailboxLookup | None:
        """A search with the answers in so far, or None."""
        ...

    async def record(self, answers: Sequence[MessageLookupAnswered]) -> None:
        """Keep mailboxes' answers (an answer to no known search is ignored)."""
        ...
