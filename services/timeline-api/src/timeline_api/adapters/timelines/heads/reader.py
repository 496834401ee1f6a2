"""Threads tabs from the heads, by ``_id``; the indexed queries for what they cannot answer.

A page reads the heads of the record's keys in one ``_id: {$in: ...}`` query, then the
page's threads in another (docs/adr/0010, 0012), or none: a head also keeps the rows of
its newest threads as announced, and a first page takes those (docs/adr/0015). A
company's people's addresses come from its roster, one read by ``_id`` (docs/adr/0014),
made while the heads of its own domains are read. A page the heads cannot answer exactly
(deeper than a head, a thread whose entry has not caught up yet, or before the ready
mark) and every meetings page are the indexed queries (``indexed.IndexedTimelines``).
"""

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Literal

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document, find_by_ids
from crm_schemas.base import to_milliseconds
from timeline_api.adapters.timeline_store import thread_from_doc
from timeline_api.adapters.timelines.heads.index_rules import (
    candidates,
    known_rows,
    record_keys,
    trusted,
    unpack,
)
from timeline_api.adapters.timelines.heads.mongo import READY, MongoRosters, head_from, unpack_rows
from timeline_api.adapters.timelines.indexed import (
    IndexedTimelines,
    Links,
    event_key,
    thread_key,
)
from timeline_api.domain.model import StoredEvent, ThreadSummary
from timeline_api.domain.scope import Page, PageRequest, RecordScope, Window, page_of

HEADS_KEPT_DECODED = 64
"""Decoded heads a page reader keeps: a full head's entries are 160 kB decoded plus their
51 kB packed string (the cache key), its 64 rows about 80 kB twice over (the cache key
and the decoded copy), so about 24 MB when all 64 are full heads."""


@dataclass(frozen=True)
class HeadsRead:
    """Heads read ahead of a page: the keys asked for, and the documents found."""

    keys: frozenset[str]
    found: dict[str, Document]


class HeadsTimelines:
    """``ports.timelines.TimelineReader`` over the heads and the rosters."""

    def __init__(
        self, db: AsyncDatabase[Document], indexed: IndexedTimelines, rosters: MongoRosters
    ) -> None:
        self._heads: AsyncCollection[Document] = db["timeline_index"]
        self._threads: AsyncCollection[Document] = db["threads"]
        self._indexed = indexed
        self._rosters = rosters
        # Pages read the same heads again and again (a busy company's, the next page of a
        # tab): a head that did not change since it was last read is not decoded again.
        # Read only: a write path never shares these entries.
        self._read_entries = lru_cache(maxsize=HEADS_KEPT_DECODED)(unpack)
        self._read_rows = lru_cache(maxsize=HEADS_KEPT_DECODED)(unpack_rows)

    async def threads(self, scope: RecordScope, page: PageRequest) -> Page[ThreadSummary]:
        """The threads with any address or domain of the scope, newest first."""
        own = record_keys(scope.workspace_id, [], scope.domains)
        # The heads of a company's own domains are read while its people's addresses are.
        links, ahead = await asyncio.gather(self.links(scope), self.read_heads(own))
        rows = await self.from_heads(links, page, ahead)
        if rows is None:
            rows = await self._indexed.thread_rows(links, page)
        return page_of(rows, page.limit, thread_key)

    async def events(
        self, scope: RecordScope, window: Window, page: PageRequest
    ) -> Page[StoredEvent]:
        """The meetings with any address or domain of the scope (the indexed query)."""
        rows = await self._indexed.event_rows(await self.links(scope), window, page)
        return page_of(rows, page.limit, event_key)

    async def links(self, scope: RecordScope) -> Links:
        """The scope with its company's people's addresses: from its roster, or from the
        people collection while the rosters are not complete."""
        if scope.company is None:
            return Links.of(scope)
        company = scope.company.company_id
        people = await self._rosters.emails(company)
        if people is None:
            people = await self._indexed.company_emails(scope.workspace_id, company)
        return Links.of(scope, people)

    async def read_heads(self, keys: Sequence[str]) -> HeadsRead | None:
        """The heads of ``keys`` (and the ready mark), read ahead of a page; None for none."""
        if not keys:
            return None
        wanted = [READY, *keys]
        return HeadsRead(frozenset(wanted), await find_by_ids(self._heads, wanted))

    async def from_heads(
        self, links: Links, page: PageRequest, ahead: HeadsRead | None = None
    ) -> list[ThreadSummary] | None:
        """The page after the cursor (``limit + 1`` rows) of the threads of ``links``;
        None when the heads cannot answer it exactly (a deep page, or a thread changed
        since it was indexed), and the indexed query must.

        The threads come from the rows the heads keep of their newest threads, else from
        the threads collection. Each is checked to be the workspace's and to have one of
        the addresses or domains; a thread read from the collection must also be at the
        time the heads have for it. Heads already read ``ahead`` are not read again.
        """
        keys = record_keys(links.workspace_id, links.emails, links.domains)
        limit = page.limit
        asked = ahead.keys if ahead is not None else frozenset()
        found = dict(ahead.found) if ahead is not None else {}
        missing = [k for k in (READY, *keys) if k not in asked]
        if missing:
            found |= await find_by_ids(self._heads, missing)
        if READY not in found:
            return None
        heads = [head_from(found.get(k), self._read_entries, self._read_rows) for k in keys]
        rows, bound = candidates(heads, page.after)
        known = known_rows(heads, rows[: limit + 1])
        threads: list[ThreadSummary] = []
        position = 0
        while len(threads) <= limit and position < len(rows):
            chunk = rows[position : position + limit + 1 - len(threads)]
            position += len(chunk)
            unknown = [t for _, t in chunk if t not in known]
            stored = await find_by_ids(self._threads, unknown) if unknown else {}
            for row in chunk:
                thread = _as_indexed(known.get(row[1]), stored.get(row[1]), row[0], links)
                if thread is None:
                    continue
                if thread is False or not trusted(row, bound):
                    return None
                threads.append(thread)
        if len(threads) > limit or bound is None:
            return threads
        return None


def _as_indexed(
    row: str | None, doc: Document | None, at: datetime, links: Links
) -> ThreadSummary | Literal[False] | None:
    """The thread listed at ``at``, from its row kept in a head or else from its stored
    document. None when it is not on the record's timeline (skipped: a host key lists
    every address of a domain); False when the document changed since it was indexed
    (the index lags, so its order cannot be trusted)."""
    if row is not None:
        thread = _from_row(row, at)
        linked = _links(
            thread.workspace_id, thread.participant_emails, thread.company_domains, links
        )
        return thread if linked else None
    if doc is None or not _links(
        doc.get("workspace_id"),
        doc.get("participant_emails", ()),
        doc.get("company_domains", ()),
        links,
    ):
        return None
    return thread_from_doc(doc) if doc.get("last_activity") == at else False


def _links(workspace: object, emails: Iterable[str], domains: Iterable[str], links: Links) -> bool:
    """Whether a thread is the workspace's and has one of the addresses or domains."""
    return workspace == links.workspace_id and bool(
        set(emails).intersection(links.emails) or set(domains).intersection(links.domains)
    )


def _from_row(row: str, at: datetime) -> ThreadSummary:
    """A thread from the row a head keeps for it, with its times as stored (to the
    millisecond, as ``thread_from_doc`` reads them)."""
    thread = ThreadSummary.model_validate_json(row)
    first = to_milliseconds(thread.first_activity)
    return thread.model_copy(update={"first_activity": first, "last_activity": at})
