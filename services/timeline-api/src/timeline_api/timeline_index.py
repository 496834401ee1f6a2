"""The timeline index in MongoDB: head documents by ``_id``, one writer per head.

After the projection re-summarises a thread it announces the thread's last activity for
each of its index keys on the index topic, keyed by the index key; the consumer of that
topic is then the only writer of each head (read by ``_id``, replace by ``_id``; FerretDB
1.x has no atomic update of one document by several writers, docs/adr/0007). The threads
tab reads the heads of a record's keys in one ``_id: {$in: ...}`` query, then the page's
threads in another (docs/adr/0010, 0012), or none: a head also keeps the rows of its
newest threads as announced, and a first page takes those (docs/adr/0015).
"""

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Literal

from pymongo import ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.bus import BulkPublisher
from crm_runtime.mongo import Document, find_by_ids
from crm_runtime.service import Runtime
from crm_schemas import groups
from crm_schemas.base import to_milliseconds, utcnow
from crm_schemas.timeline import ThreadIndexed
from timeline_api.domain.model import ThreadSummary
from timeline_api.domain.pagination import Cursor
from timeline_api.domain.timeline_index import (
    HEAD_SIZE,
    Head,
    Update,
    apply_all,
    candidates,
    known_rows,
    pack,
    thread_keys,
    trusted,
    unpack,
)
from timeline_api.store import thread_from_doc

GROUP = groups.TIMELINE_INDEX
HEADS_KEPT_DECODED = 64
"""Decoded heads a page reader keeps: a full head's entries are 160 kB decoded plus their
51 kB packed string (the cache key), its 64 rows about 80 kB twice over (the cache key
and the decoded copy), so about 24 MB when all 64 are full heads."""
ROW_MAX_CHARS = 16_384
"""A thread's row is announced (and kept in heads) up to this size; a longer one (a
thread with hundreds of participants) is read from the threads collection instead, so
neither an index event nor a head grows without bound."""
ANNOUNCED_AT_ONCE = 500
"""Stored threads announced in one bulk publish by ``index_stored_threads``."""
log = logging.getLogger(__name__)


def pack_rows(rows: dict[str, str]) -> str:
    """A head's rows as one string, ``<thread id>\t<row>`` per line (a row is JSON, which
    has no raw tab or newline; a thread id has neither)."""
    return "\n".join(f"{thread_id}\t{row}" for thread_id, row in rows.items())


def unpack_rows(packed: str) -> dict[str, str]:
    """The rows that ``pack_rows`` made into a string."""
    return dict(line.split("\t", 1) for line in packed.split("\n")) if packed else {}


def head_from(
    doc: Document | None,
    entries_of: Callable[[str], dict[str, datetime]] = unpack,
    rows_of: Callable[[str], dict[str, str]] = unpack_rows,
) -> Head:
    """A head as stored: ``packed`` entries (``domain.timeline_index.pack``, read by
    ``entries_of``), or a list of ``{t: thread id, at: last activity}`` in heads written
    before entries were packed; ``rows`` packed by ``pack_rows`` (read by ``rows_of``),
    absent from heads written before rows were kept."""
    if doc is None:
        return Head()
    bound = doc.get("boundary")
    if "packed" in doc:
        entries = entries_of(doc["packed"])
    else:
        entries = {str(e["t"]): e["at"] for e in doc.get("entries", [])}
    rows = rows_of(doc["rows"]) if doc.get("rows") else {}
    return Head(entries, (bound["at"], str(bound["t"])) if bound else None, rows)


def head_doc(head: Head) -> Document:
    """A head to store: its entries and its rows packed into a string each, its boundary
    a subdocument."""
    bound = head.boundary
    return {
        "packed": pack(head.entries),
        "boundary": {"at": bound[0], "t": bound[1]} if bound else None,
        "rows": pack_rows(head.rows),
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
        self._read_rows = lru_cache(maxsize=HEADS_KEPT_DECODED)(unpack_rows)

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
        updates: dict[str, list[Update]] = {}
        for event in events:
            at = to_milliseconds(event.last_activity)  # as stored, to compare with it
            updates.setdefault(event.key, []).append((event.thread_id, at, event.row))
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

        The threads come from the rows the heads keep of their newest threads, else
        from the threads collection. ``link`` is (workspace, addresses, domains): each
        thread is checked to be the workspace's and to have one of them; a thread read
        from the collection must also be at the time the index has for it. Heads
        already read ``ahead`` are not read again.
        """
        cursor, limit = page
        asked = ahead.keys if ahead is not None else frozenset()
        found = dict(ahead.found) if ahead is not None else {}
        missing = [k for k in (READY, *keys) if k not in asked]
        if missing:
            found |= await find_by_ids(self.heads, missing)
        if READY not in found:
            return None
        heads = [head_from(found.get(k), self._read_entries, self._read_rows) for k in keys]
        rows, bound = candidates(heads, cursor)
        known = known_rows(heads, rows[: limit + 1])
        threads: list[ThreadSummary] = []
        position = 0
        while len(threads) <= limit and position < len(rows):
            chunk = rows[position : position + limit + 1 - len(threads)]
            position += len(chunk)
            missing = [t for _, t in chunk if t not in known]
            stored = await find_by_ids(self.thread_rows, missing) if missing else {}
            for row in chunk:
                thread = _as_indexed(known.get(row[1]), stored.get(row[1]), row[0], link)
                if thread is None:
                    continue
                if thread is False or not trusted(row, bound):
                    return None
                threads.append(thread)
        if len(threads) > limit or bound is None:
            return threads
        return None


@dataclass(frozen=True)
class HeadsRead:
    """Heads read ahead of a page: the keys asked for, and the documents found."""

    keys: frozenset[str]
    found: dict[str, Document]


def _as_indexed(
    row: str | None,
    doc: Document | None,
    at: datetime,
    link: tuple[str, Sequence[str], Sequence[str]],
) -> ThreadSummary | Literal[False] | None:
    """The thread listed at ``at``, from its row kept in a head or else from its stored
    document. None when it is not on the record's timeline (skipped: a host key lists
    every address of a domain); False when the document changed since it was indexed
    (the index lags, so its order cannot be trusted)."""
    if row is not None:
        thread = _from_row(row, at)
        return (
            thread
            if _links(thread.workspace_id, thread.participant_emails, thread.company_domains, link)
            else None
        )
    if doc is None or not _links(
        doc.get("workspace_id"),
        doc.get("participant_emails", ()),
        doc.get("company_domains", ()),
        link,
    ):
        return None
    return thread_from_doc(doc) if doc.get("last_activity") == at else False


def _links(
    workspace: object,
    emails: Iterable[str],
    domains: Iterable[str],
    link: tuple[str, Sequence[str], Sequence[str]],
) -> bool:
    """Whether a thread is the workspace's and has one of the addresses or domains."""
    return workspace == link[0] and bool(
        set(emails).intersection(link[1]) or set(domains).intersection(link[2])
    )


def _from_row(row: str, at: datetime) -> ThreadSummary:
    """A thread from the row a head keeps for it, with its times as stored (to the
    millisecond, as ``thread_from_doc`` reads them)."""
    thread = ThreadSummary.model_validate_json(row)
    first = to_milliseconds(thread.first_activity)
    return thread.model_copy(update={"first_activity": first, "last_activity": at})


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
        """Announce each thread under each of its keys, with its row (as stored)."""
        await self._publish(summaries, with_rows=True)

    async def without_rows(self, *summaries: ThreadSummary) -> None:
        """Announce these former states of threads without their rows, so that no head
        of their keys keeps a row that may no longer hold (a thread that lost messages,
        and maybe keys, when an account was disconnected)."""
        await self._publish(summaries, with_rows=False)

    async def _publish(self, summaries: Sequence[ThreadSummary], *, with_rows: bool) -> None:
        await self._bulk.publish_all(
            (self._topic, key, event)
            for summary in summaries
            for key, event in _events(summary, _row(summary) if with_rows else None)
        )


def _events(summary: ThreadSummary, row: str | None) -> list[tuple[str, ThreadIndexed]]:
    """A thread's announcement under each of its keys (its row made once for them all)."""
    return [
        (
            key,
            ThreadIndexed(
                key=key,
                workspace_id=summary.workspace_id,
                thread_id=summary.thread_id,
                last_activity=summary.last_activity,
                row=row,
            ),
        )
        for key in thread_keys(
            summary.workspace_id, summary.participant_emails, summary.company_domains
        )
    ]


def _row(summary: ThreadSummary) -> str | None:
    """The row a head may keep of a thread: as the threads collection stores it, unless
    it is longer than ``ROW_MAX_CHARS``."""
    row = summary.model_dump_json()
    return row if len(row) <= ROW_MAX_CHARS else None


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
