"""Timelines by plain indexed queries: the read model for a real MongoDB deployment
(``TIMELINE_READ_MODEL=indexed``).

A page is one ``find`` on the collection the projection writes anyway: the threads (or
meetings) with one of the record's addresses or its company's domains (``$in`` on an
indexed array field), after the cursor, sorted by last activity (start) and id, limited.
A company's people are found by ``company_id``, an indexed field. It keeps nothing of its
own, so the projection has nothing to tell it. Only what MongoDB and FerretDB both do:
``find``, ``sort``, ``limit``, indexes.

MongoDB answers these from the indexes ``TimelineStore.create_indexes`` makes. FerretDB
1.x on SQLite answers them by scanning the collection (docs/adr/0007), which is why the
heads read model exists; the heads use these same queries for what their heads cannot
answer.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document
from crm_runtime.service import Runtime
from crm_schemas.records import PersonUpserted
from timeline_api.adapters.timeline_store import event_from_doc, thread_from_doc
from timeline_api.domain.model import StoredEvent, ThreadSummary
from timeline_api.domain.pagination import Cursor
from timeline_api.domain.scope import Page, PageRequest, RecordScope, Window, page_of
from timeline_api.ports.timelines import ThreadChange


@dataclass(frozen=True, slots=True)
class Links:
    """A record's timeline with its company's people looked up: its workspace, every
    address and every domain that links a thread or a meeting to it."""

    workspace_id: str
    emails: tuple[str, ...]
    domains: tuple[str, ...] = ()

    @classmethod
    def of(cls, scope: RecordScope, people: Sequence[str] = ()) -> "Links":
        """The scope's links, with ``people``: the addresses of its company's people."""
        return cls(
            scope.workspace_id, tuple(dict.fromkeys((*scope.emails, *people))), scope.domains
        )


def linked(
    workspace_id: str, emails: Sequence[str], domains: Sequence[str] | None = None
) -> Document:
    """The filter for items linked to a record: any of its addresses, or of its domains."""
    by_address: Document = {"participant_emails": {"$in": list(emails)}}
    if not domains:
        return {"workspace_id": workspace_id, **by_address}
    return {
        "workspace_id": workspace_id,
        "$or": [by_address, {"company_domains": {"$in": list(domains)}}],
    }


def _after(cursor: Cursor | None, field: str, newest_first: bool) -> Document:
    """The keyset filter for the rows after ``cursor`` in (field, _id) order."""
    if cursor is None:
        return {}
    op = "$lt" if newest_first else "$gt"
    return {"$or": [{field: {op: cursor.at}}, {field: cursor.at, "_id": {op: cursor.id}}]}


def _all(*filters: Document) -> Document:
    present = [f for f in filters if f]
    if not present:
        return {}
    return present[0] if len(present) == 1 else {"$and": present}


def thread_key(thread: ThreadSummary) -> Cursor:
    """Where a threads page continues after this thread."""
    return Cursor(thread.last_activity, thread.thread_id)


def event_key(event: StoredEvent) -> Cursor:
    """Where a meetings page continues after this meeting."""
    return Cursor(event.starts_at, event.item_id)


class IndexedTimelines:
    """``ports.timelines.TimelineReader`` by one indexed query per page."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._threads: AsyncCollection[Document] = db["threads"]
        self._events: AsyncCollection[Document] = db["events"]
        self._people: AsyncCollection[Document] = db["people"]

    async def threads(self, scope: RecordScope, page: PageRequest) -> Page[ThreadSummary]:
        """The threads with any address or domain of the scope, newest first."""
        rows = await self.thread_rows(await self.links(scope), page)
        return page_of(rows, page.limit, thread_key)

    async def events(
        self, scope: RecordScope, window: Window, page: PageRequest
    ) -> Page[StoredEvent]:
        """The meetings with any address or domain of the scope, starting in the window."""
        rows = await self.event_rows(await self.links(scope), window, page)
        return page_of(rows, page.limit, event_key)

    async def links(self, scope: RecordScope) -> Links:
        """The scope with its company's people's addresses."""
        if scope.company is None:
            return Links.of(scope)
        return Links.of(
            scope, await self.company_emails(scope.workspace_id, scope.company.company_id)
        )

    async def company_emails(self, workspace_id: str, company_id: str) -> list[str]:
        """Every address of every person of a company."""
        found = self._people.find(
            {"workspace_id": workspace_id, "company_id": company_id}, projection={"emails": True}
        )
        return list(dict.fromkeys([e async for doc in found for e in doc.get("emails", [])]))

    async def thread_rows(self, links: Links, page: PageRequest) -> list[ThreadSummary]:
        """The threads of ``links`` after the cursor, newest first, one more than the limit."""
        query = _all(
            linked(links.workspace_id, links.emails, links.domains),
            _after(page.after, "last_activity", newest_first=True),
        )
        found = self._threads.find(query).sort([("last_activity", DESCENDING), ("_id", DESCENDING)])
        return [thread_from_doc(doc) async for doc in found.limit(page.limit + 1)]

    async def event_rows(
        self, links: Links, window: Window, page: PageRequest
    ) -> list[StoredEvent]:
        """The meetings of ``links`` starting in the window, after the cursor, one more than
        the limit."""
        starts: dict[str, Any] = {}
        if window.starts_from is not None:
            starts["$gte"] = window.starts_from
        if window.starts_before is not None:
            starts["$lt"] = window.starts_before
        query = _all(
            linked(links.workspace_id, links.emails, links.domains),
            {"starts_at": starts} if starts else {},
            _after(page.after, "starts_at", window.newest_first),
        )
        direction = DESCENDING if window.newest_first else ASCENDING
        found = self._events.find(query).sort([("starts_at", direction), ("_id", direction)])
        return [event_from_doc(doc) async for doc in found.limit(page.limit + 1)]


class NothingToFeed:
    """``ports.timelines.TimelineFeed`` of a read model that reads what the projection stores."""

    async def threads_changed(self, summaries: Sequence[ThreadSummary]) -> None:
        """Nothing to do: a page queries the threads themselves."""

    async def threads_replaced(self, changes: Sequence[ThreadChange]) -> None:
        """Nothing to do: a page queries the threads themselves."""

    async def people_changed(self, people: Sequence[PersonUpserted]) -> None:
        """Nothing to do: a company's people are queried by ``company_id``."""


class IndexedReadModel:
    """The indexed read model as the service wires it: a reader, and nothing else to run."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.reader = IndexedTimelines(db)
        self.feed = NothingToFeed()

    def subscribe(self, runtime: Runtime) -> None:
        """No consumer of its own."""

    async def prepare(self) -> None:
        """Nothing to prepare: ``TimelineStore.create_indexes`` makes the indexes."""

    async def backfill(self) -> dict[str, int]:
        """Nothing to build from stored data."""
        return {}
