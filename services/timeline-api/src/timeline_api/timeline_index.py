"""The timeline index in MongoDB: head documents by ``_id``, one writer per head.

After the projection re-summarises a thread it announces the thread's last activity for
each of its index keys on the index topic, keyed by the index key; the consumer of that
topic is then the only writer of each head (read by ``_id``, replace by ``_id``; FerretDB
1.x has no atomic update of one document by several writers, docs/adr/0007). The threads
tab reads the heads of a record's keys in one ``_id: {$in: ...}`` query, then the page's
threads in another (docs/adr/0010, 0012).
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from pymongo import ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.bus import BulkPublisher
from crm_runtime.mongo import Document, find_by_ids
from crm_runtime.service import Runtime
from crm_schemas.base import to_milliseconds, utcnow
from crm_schemas.timeline import ThreadIndexed
from timeline_api.domain.model import ThreadSummary
from timeline_api.domain.pagination import Cursor
from timeline_api.domain.timeline_index import (
    HEAD_SIZE,
    Head,
    apply_all,
    candidates,
    pack,
    thread_keys,
    trusted,
    unpack,
)
from timeline_api.store import thread_from_doc

GROUP = "timeline-api.index"
HEADS_KEPT_DECODED = 64
"""Decoded heads a page reader keeps: a full head is 160 kB decoded plus its 51 kB packed
string (the cache key), so about 13.5 MB when all 64 are full heads."""
ANNOUNCED_AT_ONCE = 500
"""Stored threads announced in one bulk publish by ``index_stored_threads``."""
log = logging.getLogger(__name__)


def head_from(
    doc: Document | None, entries_of: Callable[[str], dict[str, datetime]] = unpack
) -> Head:
    """A head as stored: ``packed`` entries (``domain.timeline_index.pack``, read by
    ``entries_of``), or a list of ``{t: thread id, at: last activity}`` in heads written
    before entries were packed."""
    if doc is None:
        return Head()
    bound = doc.get("boundary")
    if "packed" in doc:
        entries = entries_of(doc["packed"])
    else:
        entries = {str(e["t"]): e["at"] for e in doc.get("entries", [])}
    return Head(entries, (bound["at"], str(bound["t"])) if bound else None)


def head_doc(head: Head) -> Document:
    """A head to store: its entries packed into one string, its boundary a subdocument."""
    bound = head.boundary
    return {
        "packed": pack(head.entries),
        "boundary": {"at": bound[0], "t": bound[1]} if bound else None,
    }


READY = "!ready"
"""The ``_id`` of the document that says every stored thread is indexed: set when the
index starts on an empty read model (or by ``crm-admin index-timelines``). Without it
the threads tabs read the threads collection."""


class TimelineIndex:
    """Head documents in the ``timeline_index`` collection."""

    def __init__(self, db: AsyncDatabase[Document], head_size: int = HEAD_SIZE) -> None:
        self.head_size = head_size
        self.heads: AsyncCollection[Document] = db["timeline_index"]
        self.thread_rows: AsyncCollection[Document] = db["threads"]
        # Pages read the same heads again and again (a busy company's, the next page of a
        # tab): a head that did not change since it was last read is not decoded again.
        # Read only: a write path never shares these entries.
        self._read_entries = lru_cache(maxsize=HEADS_KEPT_DECODED)(unpack)

    async def prepare(self) -> bool:
        """Mark the index complete when there is nothing to index yet; True when it is."""
        if await self.heads.find_one({"_id": READY}) is not None:
            return True
        if await self.thread_rows.find_one({}, {"_id": 1}) is not None:
            log.warning("timeline index not built: threads tabs scan until it is marked ready")
            return False
        await self.heads.replace_one({"_id": READY}, {"at": utcnow()}, upsert=True)
        return True

    async def mark_ready(self) -> None:
        """Say every stored thread is indexed (after announcing them all)."""
        await self.heads.replace_one({"_id": READY}, {"at": utcnow()}, upsert=True)

    async def record(self, event: ThreadIndexed) -> None:
        """Set one thread's last activity in one head; a redelivery changes nothing."""
        await self.record_all([event])

    async def record_all(self, events: Sequence[ThreadIndexed]) -> None:
        """Set a poll's last activities: each head read once, changed in order, written
        once (a company's domain key gets one entry per thread of a busy poll)."""
        updates: dict[str, list[tuple[str, datetime]]] = {}
        for event in events:
            at = to_milliseconds(event.last_activity)  # as stored, to compare with it
            updates.setdefault(event.key, []).append((event.thread_id, at))
        found = await find_by_ids(self.heads, list(updates))
        writes = []
        for key, changes in updates.items():
            before = head_from(found.get(key))
            after = apply_all(before, changes, self.head_size)
            if after != before or key not in found:
                writes.append(ReplaceOne({"_id": key}, head_doc(after), upsert=True))
        if writes:
            await self.heads.bulk_write(writes, ordered=False)

    async def read_heads(self, keys: Sequence[str]) -> "HeadsRead":
        """The heads of ``keys`` (and the ready mark), read ahead of a page."""
        wanted = [READY, *keys]
        return HeadsRead(frozenset(wanted), await find_by_ids(self.heads, wanted))

    async def threads(
        self,
        keys: Sequence[str],
        link: tuple[str, Sequence[str], Sequence[str]],
        page: tuple[Cursor | None, int],
        ahead: "HeadsRead | None" = None,
    ) -> list[ThreadSummary] | None:
        """The page after the cursor (``limit + 1`` rows) of the threads under ``keys``;
        None when the index cannot answer it exactly (a deep page, or a thread changed
        since it was indexed), and the threads collection must.

        ``link`` is (workspace, addresses, domains): each thread read is checked to still
        be the workspace's and to have one of them, at the time the index has for it.
        Heads already read ``ahead`` are not read again.
        """
        cursor, limit = page
        asked = ahead.keys if ahead is not None else frozenset()
        found = dict(ahead.found) if ahead is not None else {}
        missing = [k for k in (READY, *keys) if k not in asked]
        if missing:
            found |= await find_by_ids(self.heads, missing)
        if READY not in found:
            return None
        heads = [head_from(found.get(k), self._read_entries) for k in keys]
        rows, bound = candidates(heads, cursor)
        threads: list[ThreadSummary] = []
        position = 0
        while len(threads) <= limit and position < len(rows):
            chunk = rows[position : position + limit + 1 - len(threads)]
            position += len(chunk)
            stored = await find_by_ids(self.thread_rows, [t for _, t in chunk])
            for row in chunk:
                doc = stored.get(row[1])
                state = _as_indexed(doc, row[0], link)
                if state is None or doc is None:
                    continue
                if not state or not trusted(row, bound):
                    return None
                threads.append(thread_from_doc(doc))
        if len(threads) > limit or bound is None:
            return threads
        return None


@dataclass(frozen=True)
class HeadsRead:
    """Heads read ahead of a page: the keys asked for, and the documents found."""

    keys: frozenset[str]
    found: dict[str, Document]


def _as_indexed(
    doc: Document | None, at: datetime, link: tuple[str, Sequence[str], Sequence[str]]
) -> bool | None:
    """None when the thread is not on the record's timeline (skipped: a host key lists
    every address of a domain); False when it changed since it was indexed (the index
    lags, so its order cannot be trusted); True when it is on it as indexed."""
    workspace, emails, domains = link
    if doc is None or doc.get("workspace_id") != workspace:
        return None
    if not (set(doc.get("participant_emails", ())) & set(emails)) and not (
        set(doc.get("company_domains", ())) & set(domains)
    ):
        return None
    return bool(doc.get("last_activity") == at)


def register_timeline_index(runtime: Runtime, db: AsyncDatabase[Document]) -> "Announce":
    """Consume the index topic into the heads; returns what the projection calls after it
    re-summarised a thread."""
    index = TimelineIndex(db)
    topic = runtime.topics.timeline_index
    runtime.consume(topic, GROUP, ThreadIndexed, index.record, many=index.record_all)
    return Announce(runtime.bulk, topic)


class Announce:
    """Publishes threads' last activities under each of their index keys, all at once."""

    def __init__(self, bulk: BulkPublisher, topic: str) -> None:
        self._bulk = bulk
        self._topic = topic

    async def __call__(self, *summaries: ThreadSummary) -> None:
        await self._bulk.publish_all(
            (
                self._topic,
                key,
                ThreadIndexed(
                    key=key,
                    workspace_id=summary.workspace_id,
                    thread_id=summary.thread_id,
                    last_activity=summary.last_activity,
                ),
            )
            for summary in summaries
            for key in thread_keys(
                summary.workspace_id, summary.participant_emails, summary.company_domains
            )
        )


async def index_stored_threads(db: AsyncDatabase[Document], announce: Announce) -> int:
    """Announce every stored thread to the index, then mark it ready; the thread count.

    For a read model that has threads from before the index existed. Pages are read from
    the index as soon as the mark is set, while its consumer may still be applying the
    announcements of the last few seconds.
    """
    count = 0
    chunk: list[ThreadSummary] = []
    async for doc in db["threads"].find({}):
        chunk.append(thread_from_doc(doc))
        if len(chunk) == ANNOUNCED_AT_ONCE:
            await announce(*chunk)
            count, chunk = count + len(chunk), []
    await announce(*chunk)
    await TimelineIndex(db).mark_ready()
    return count + len(chunk)
