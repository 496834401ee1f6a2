"""The timeline read model in memory: what the projection stores, and the pages read from it
(``ports.timelines.ProjectionStore``, ``ports.timelines.TimelineReader``,
``ports.timelines.Conversations``), for fast tests of the use cases. The same contract
tests run against it and the MongoDB read models, so it cannot drift from them."""

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from crm_schemas.base import to_milliseconds
from crm_schemas.outcomes import ItemDropped
from timeline_api.adapters.memory import InMemoryRecords
from timeline_api.adapters.timelines.indexed import Links, event_key, thread_key
from timeline_api.domain.copies import CopyRemoved, Known, is_current, takes
from timeline_api.domain.model import Source, StoredEvent, StoredMessage, ThreadSummary
from timeline_api.domain.pagination import Cursor
from timeline_api.domain.scope import Page, PageRequest, RecordScope, Window, page_of
from timeline_api.domain.threads import summarise_thread
from timeline_api.ports.timelines import AccountRemoval, ThreadChange

T = TypeVar("T", StoredMessage, StoredEvent)


def _with_sources(kept: T | None, record: T, *, content: bool = True) -> T:
    """``record``'s content (or ``kept``'s, unless ``content``) with the sources of both,
    by account, as a store keeps them (dates to the millisecond, versions apart)."""
    added: tuple[Source, ...] = tuple(_stored(s) for s in record.sources)
    sources = {s.account_id: s for s in (*(kept.sources if kept else ()), *added)}
    base = record if content or kept is None else kept
    times = {
        f: to_milliseconds(getattr(base, f))
        for f in ("sent_at", "starts_at", "ends_at")
        if hasattr(base, f)
    }
    return base.model_copy(update={"sources": tuple(sources.values()), **times})


def _stored(source: Source) -> Source:
    """A source as a store keeps it: its version is kept beside it, not in it."""
    return source.model_copy(update={"version": None})


def _without(record: T, account_id: str) -> T:
    kept = tuple(s for s in record.sources if s.account_id != account_id)
    return record.model_copy(update={"sources": kept})


def _linked(links: Links, workspace_id: str, emails: Iterable[str], domains: Iterable[str]) -> bool:
    return workspace_id == links.workspace_id and bool(
        set(emails).intersection(links.emails) or set(domains).intersection(links.domains)
    )


class InMemoryTimelines:
    """Messages, threads, meetings and drops in dicts; people's addresses from ``records``."""

    def __init__(self, records: InMemoryRecords | None = None) -> None:
        self.records = records or InMemoryRecords()
        self.stored_messages: dict[str, StoredMessage] = {}
        self.stored_threads: dict[str, ThreadSummary] = {}
        self.stored_events: dict[str, StoredEvent] = {}
        self.stored_drops: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, dict[str, datetime]] = {}  # item: account: version kept
        self.withdrawn: dict[str, dict[str, datetime]] = {}  # item: account: version removed
        self.redirects: dict[str, str] = {}

    def _known(self, item_id: str, kept: StoredMessage | StoredEvent | None) -> Known:
        return Known(
            self.versions.get(item_id, {}),
            self.withdrawn.get(item_id, {}),
            kept.version if kept is not None else None,
        )

    def _current(self, record: T, kept: T | None) -> T | None:
        """``record`` with only the sources at least as new as what is known, and their
        versions remembered; None when it has none."""
        known = self._known(record.item_id, kept)
        current = tuple(s for s in record.sources if takes(known, s.account_id, s.version))
        for source in current:
            if source.version is not None:
                self.versions.setdefault(record.item_id, {})[source.account_id] = source.version
        return record.model_copy(update={"sources": current}) if current else None

    def _withdraw(self, items: dict[str, T], removed: CopyRemoved) -> bool:
        """Take a copy away unless a newer version of it is known; True when it was kept."""
        kept = items.get(removed.item_id)
        known = self._known(removed.item_id, kept)
        if (kept is None and removed.item_id not in self.withdrawn) or not takes(
            known, removed.account_id, removed.version
        ):
            return False
        self.withdrawn.setdefault(removed.item_id, {})[removed.account_id] = removed.version
        self.versions.get(removed.item_id, {}).pop(removed.account_id, None)
        if kept is None or not any(s.account_id == removed.account_id for s in kept.sources):
            return False
        self._drop_source(items, removed.item_id, removed.account_id)
        return True

    # --- ports.timelines.ProjectionStore ----------------------------------------------------------

    async def store_messages(self, messages: list[StoredMessage]) -> list[ThreadSummary]:
        """Store each message once, adding its sources; re-summarise each thread touched."""
        touched: dict[str, None] = {}
        for message in messages:
            kept = self.stored_messages.get(message.item_id)
            current = self._current(message, kept)
            if current is None:
                continue
            self.stored_messages[message.item_id] = _with_sources(kept, current)
            touched[message.thread_id] = None
        summaries = [self._summarise(thread_id) for thread_id in touched]
        return [s for s in summaries if s is not None]

    async def remove_messages(self, removals: list[CopyRemoved]) -> list[ThreadChange]:
        """Take each mailbox's copy away from its message; every thread that lost one."""
        before: dict[str, ThreadSummary | None] = {}
        for removal in removals:
            message = self.stored_messages.get(removal.item_id)
            if self._withdraw(self.stored_messages, removal) and message is not None:
                before.setdefault(message.thread_id, self.stored_threads.get(message.thread_id))
        return [ThreadChange(was, self._summarise(t)) for t, was in before.items()]

    async def upsert_event(self, event: StoredEvent) -> None:
        """Store a meeting once, adding its current sources; its content if at least as
        new as the content kept."""
        kept = self.stored_events.get(event.item_id)
        current = self._current(event, kept)
        if current is not None:
            content = kept is None or is_current(event.version, kept.version)
            self.stored_events[event.item_id] = _with_sources(kept, current, content=content)

    async def remove_event_source(self, removed: CopyRemoved) -> None:
        """Take one calendar away from a meeting; the meeting goes when none is left."""
        self._withdraw(self.stored_events, removed)

    async def record_dropped(self, drops: list[ItemDropped]) -> None:
        """Remember why items were not synced, per account each was dropped from."""
        for drop in drops:
            outcome = drop.model_dump(mode="json", exclude={"item_id"})
            accounts = self.stored_drops.get(drop.item_id, {}).get("accounts", {})
            self.stored_drops[drop.item_id] = outcome | {
                "accounts": accounts | {drop.account_id: outcome}
            }

    async def remove_account(self, account_id: str) -> AccountRemoval:
        """Take the account away as a source of everything; what only it had goes."""
        threads: set[str] = set()
        deleted_messages = deleted_events = 0
        for item_id, message in list(self.stored_messages.items()):
            if any(s.account_id == account_id for s in message.sources):
                threads.add(message.thread_id)
                deleted_messages += self._drop_source(self.stored_messages, item_id, account_id)
        for item_id, event in list(self.stored_events.items()):
            if any(s.account_id == account_id for s in event.sources):
                deleted_events += self._drop_source(self.stored_events, item_id, account_id)
        changes = [
            ThreadChange(self.stored_threads.get(thread_id), self._summarise(thread_id))
            for thread_id in sorted(threads)
        ]
        return AccountRemoval(deleted_messages, deleted_events, changes)

    # --- ports.timelines.ThreadMerges -------------------------------------------------------------

    async def redirect_threads(self, redirects: Mapping[str, str]) -> None:
        """From now on, what comes for each thread goes to the one it merged into."""
        for gone, into in redirects.items():
            self.redirects.setdefault(gone, into)

    async def thread_redirects(self, thread_ids: Iterable[str]) -> dict[str, str]:
        """The thread each of these merged into, for those that did."""
        return {t: self.redirects[t] for t in thread_ids if t in self.redirects}

    async def absorb_thread(self, into: str, gone: str) -> list[ThreadChange]:
        """Move thread ``gone``'s messages into ``into``; both as they were and are."""
        moving = [m for m in self.stored_messages.values() if m.thread_id == gone]
        if not moving:
            return []
        before_gone, before_into = self.stored_threads.get(gone), self.stored_threads.get(into)
        for message in moving:
            self.stored_messages[message.item_id] = message.model_copy(update={"thread_id": into})
        self._summarise(gone)
        return [ThreadChange(before_gone, None), ThreadChange(before_into, self._summarise(into))]

    def _drop_source(self, items: dict[str, T], item_id: str, account_id: str) -> bool:
        self.versions.get(item_id, {}).pop(account_id, None)
        left = _without(items[item_id], account_id)
        if left.sources:
            items[item_id] = left
            return False
        del items[item_id]
        return True

    def _summarise(self, thread_id: str) -> ThreadSummary | None:
        messages = [m for m in self.stored_messages.values() if m.thread_id == thread_id]
        if not messages:
            self.stored_threads.pop(thread_id, None)
            return None
        self.stored_threads[thread_id] = summarise_thread(thread_id, messages)
        return self.stored_threads[thread_id]

    # --- ports.timelines.TimelineReader -----------------------------------------------------------

    async def threads(self, scope: RecordScope, page: PageRequest) -> Page[ThreadSummary]:
        """The threads with any address or domain of the scope, newest first."""
        links = self._links(scope)
        rows = [
            t
            for t in self.stored_threads.values()
            if _linked(links, t.workspace_id, t.participant_emails, t.company_domains)
        ]
        return _page(rows, page, thread_key, newest_first=True)

    async def events(
        self, scope: RecordScope, window: Window, page: PageRequest
    ) -> Page[StoredEvent]:
        """The meetings with any address or domain of the scope, starting in the window."""
        links = self._links(scope)
        rows = [
            e
            for e in self.stored_events.values()
            if _linked(links, e.workspace_id, e.participant_emails, e.company_domains)
            and _within(e.starts_at, window)
        ]
        return _page(rows, page, event_key, newest_first=window.newest_first)

    def _links(self, scope: RecordScope) -> Links:
        if scope.company is None:
            return Links.of(scope)
        people = self.records.company_emails(scope.workspace_id, scope.company.company_id)
        return Links.of(scope, people)

    # --- ports.timelines.Conversations ------------------------------------------------------------

    async def event(self, item_id: str) -> StoredEvent | None:
        """A meeting, or None."""
        return self.stored_events.get(item_id)

    async def thread(self, thread_id: str) -> ThreadSummary | None:
        """A thread's summary, or None."""
        return self.stored_threads.get(thread_id)

    async def thread_messages(self, thread_id: str, *, with_body: bool) -> list[StoredMessage]:
        """A thread's messages, oldest first."""
        found = [m for m in self.stored_messages.values() if m.thread_id == thread_id]
        if not with_body:
            found = [m.model_copy(update={"body_text": None}) for m in found]
        return sorted(found, key=lambda m: (m.sent_at, m.item_id))

    async def explain_item(
        self, item_id: str
    ) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
        """A message as stored (without its body) and its drop record."""
        message = self.stored_messages.get(item_id)
        doc = message.model_dump(mode="json", exclude={"body_text"}) if message else None
        return doc, self.stored_drops.get(item_id)


def _within(starts_at: datetime, window: Window) -> bool:
    after_start = window.starts_from is None or starts_at >= window.starts_from
    return after_start and (window.starts_before is None or starts_at < window.starts_before)


def _page(
    rows: list[Any], page: PageRequest, key: Callable[[Any], Cursor], *, newest_first: bool
) -> Page[Any]:
    ordered = sorted(rows, key=lambda r: (key(r).at, key(r).id), reverse=newest_first)
    if page.after is not None:
        after = (page.after.at, page.after.id)
        ordered = [
            r
            for r in ordered
            if ((key(r).at, key(r).id) < after if newest_first else (key(r).at, key(r).id) > after)
        ]
    return page_of(ordered[: page.limit + 1], page.limit, key)
