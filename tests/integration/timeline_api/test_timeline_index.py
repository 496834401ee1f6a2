"""The timeline index on the real FerretDB: every page it answers is the page the threads
collection gives, and it steps aside (None) for deep pages and threads it has not caught
up with. Heads of 5 threads, so truncation is reached with a few threads."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_runtime.service import build_runtime
from crm_schemas.mail import Participant, ParticipantRole
from tests.integration.timeline_api.conftest import RecordedPublisher
from timeline_api.adapters.account_removal import remove_account_items
from timeline_api.adapters.message_writes import MessageWrites
from timeline_api.adapters.timeline_store import TimelineStore
from timeline_api.adapters.timelines.heads import backfill, handlers
from timeline_api.adapters.timelines.heads.backfill import index_stored_threads
from timeline_api.adapters.timelines.heads.events import ThreadIndexed
from timeline_api.adapters.timelines.heads.handlers import HeadsFeed, IndexWriter
from timeline_api.adapters.timelines.heads.index_rules import address_key, record_keys, thread_keys
from timeline_api.adapters.timelines.heads.mongo import MongoHeads, MongoMemberships, MongoRosters
from timeline_api.adapters.timelines.heads.reader import HeadsTimelines
from timeline_api.adapters.timelines.indexed import IndexedTimelines, Links
from timeline_api.bootstrap import build_services
from timeline_api.domain.model import Source, StoredMessage, ThreadSummary
from timeline_api.domain.pagination import Cursor
from timeline_api.domain.scope import PageRequest
from timeline_api.settings import TimelineSettings

WS = "ws-index"
T0 = datetime(2025, 6, 1, tzinfo=UTC)
SOURCE = Source(account_id="acc", visibility="subject", owner_member_id="member")


class Index:
    """The heads on the real FerretDB: their consumer, their pages, the scan beside them."""

    def __init__(self, db: Any, head_size: int) -> None:
        self.heads = MongoHeads(db)
        self.writer = IndexWriter(self.heads, head_size)
        self.indexed = IndexedTimelines(db)
        self.reader = HeadsTimelines(db, self.indexed, MongoRosters(db))
        self.published = RecordedPublisher()
        self.feed = HeadsFeed(self.published, MongoMemberships(db), "index", "rosters")

    def feed_published(self) -> list[ThreadIndexed]:
        """What the feed announced since the last look."""
        taken: list[ThreadIndexed] = self.published.take()
        return taken

    async def threads(self, links: Links, page: PageRequest) -> list[ThreadSummary] | None:
        """The page from the heads, None when they cannot answer it exactly."""
        return await self.reader.from_heads(links, page)


def _links(emails: list[str], domains: list[str] | None = None) -> Links:
    return Links(WS, tuple(emails), tuple(domains or ()))


def _who(email: str, domain: str | None) -> Participant:
    return Participant(
        email=email, roles=(ParticipantRole.TO,), internal=False, company_domain=domain
    )


async def _thread(
    store: TimelineStore, index: Index, n: int, *people: Participant, indexed: bool = True
) -> ThreadSummary:
    """Thread ``n`` (a message ``n`` hours after T0) stored as the projection stores it,
    then announced to the index (twice: a redelivery)."""
    message = StoredMessage(
        item_id=f"item-{n}",
        workspace_id=WS,
        thread_id=f"thread-{n:03d}",
        message_id=f"m{n}@x.test",
        subject=f"Subject {n}",
        sent_at=T0 + timedelta(hours=n),
        participants=people,
        participant_emails=tuple(p.email for p in people),
        company_domains=tuple(p.company_domain for p in people if p.company_domain),
        sources=(SOURCE,),
    )
    [summary] = await MessageWrites(store).store_messages([message])
    assert summary.thread_id == message.thread_id
    stored = await store.thread(message.thread_id)
    assert stored is not None
    keys = thread_keys(WS, stored.participant_emails, stored.company_domains)
    for key in keys * 2 if indexed else ():
        await index.writer.record(
            ThreadIndexed(
                key=key,
                workspace_id=WS,
                thread_id=stored.thread_id,
                last_activity=stored.last_activity,
            )
        )
    return stored


async def _walk(
    index: Index, emails: list[str], domains: list[str], limit: int
) -> tuple[list[str], list[bool]]:
    """Every page, from the index where it answers, else from the threads collection; the
    thread ids in order and, per page, whether the index answered it."""
    cursor: Cursor | None = None
    seen: list[str] = []
    answered: list[bool] = []
    while True:
        page = PageRequest(cursor, limit)
        rows = await index.threads(_links(emails, domains), page)
        answered.append(rows is not None)
        if rows is None:
            rows = await index.indexed.thread_rows(_links(emails, domains), page)
        seen += [t.thread_id for t in rows[:limit]]
        if len(rows) <= limit:
            return seen, answered
        cursor = Cursor(rows[limit - 1].last_activity, rows[limit - 1].thread_id)


async def _scan(index: Index, emails: list[str], domains: list[str]) -> list[str]:
    rows = await index.indexed.thread_rows(_links(emails, domains), PageRequest(None, 100))
    return [t.thread_id for t in rows]


async def test_index_pages_are_the_scans_pages_and_deep_pages_fall_back(db: Any) -> None:
    store, index = TimelineStore(db), Index(db, head_size=5)
    assert await index.heads.prepare()  # nothing stored yet: complete from the start
    ann, bob = _who("ann@client.test", "client.test"), _who("bob@client.test", "client.test")
    for n in range(12):
        await _thread(store, index, n, ann, *((bob,) if n % 3 == 0 else ()))
    await _thread(store, index, 12, _who("zed@other.test", "other.test"))

    seen, answered = await _walk(index, ["ann@client.test"], [], limit=3)
    assert seen == await _scan(index, ["ann@client.test"], [])
    assert len(seen) == 12
    assert answered[0] is True  # the first page comes from the head
    assert False in answered  # past the head's five threads the collection answers

    small, answered = await _walk(index, ["bob@client.test"], [], limit=10)
    assert (
        small
        == await _scan(index, ["bob@client.test"], [])
        == [f"thread-{n:03d}" for n in (9, 6, 3, 0)]
    )
    assert answered == [True]  # bob's head holds all of his threads: the end is exact


async def test_a_company_skips_host_addresses_that_are_not_its_own(db: Any) -> None:
    store, index = TimelineStore(db), Index(db, head_size=50)
    assert await index.heads.prepare()
    ann = _who("ann@client.test", "client.test")
    stranger = _who("carol@client.test", None)  # on the domain, not linked to the company
    for n in range(6):
        await _thread(store, index, n, ann if n % 2 else stranger)

    seen, answered = await _walk(index, ["ann@client.test"], ["client.test"], limit=2)
    assert seen == await _scan(index, ["ann@client.test"], ["client.test"])
    assert seen == ["thread-005", "thread-003", "thread-001"]
    assert answered == [True, True]


async def test_a_company_page_from_heads_read_ahead_is_the_same_page(db: Any) -> None:
    store, index = TimelineStore(db), Index(db, head_size=50)
    assert await index.heads.prepare()
    ann, eve = _who("ann@client.test", "client.test"), _who("eve@gmail.test", "client.test")
    for n in range(4):
        await _thread(store, index, n, ann if n % 2 else eve)
    links = _links([ann.email, eve.email], ["client.test"])

    ahead = await index.reader.read_heads(record_keys(WS, [], ["client.test"]))  # before people
    assert ahead is not None
    assert address_key(WS, eve.email) not in ahead.keys  # read with the page instead

    page = await index.reader.from_heads(links, PageRequest(None, 10), ahead)
    assert page is not None
    assert page == await index.threads(links, PageRequest(None, 10))
    assert [t.thread_id for t in page] == ["thread-003", "thread-002", "thread-001", "thread-000"]


async def test_a_thread_newer_than_its_index_entry_is_left_to_the_collection(db: Any) -> None:
    store, index = TimelineStore(db), Index(db, head_size=50)
    assert await index.heads.prepare()
    ann = _who("ann@client.test", "client.test")
    for n in range(3):
        await _thread(store, index, n, ann)
    late = StoredMessage(
        item_id="item-late", workspace_id=WS, thread_id="thread-000", message_id="late@x.test",
        sent_at=T0 + timedelta(hours=10), participants=(ann,),
        participant_emails=(ann.email,), sources=(SOURCE,),
    )  # fmt: skip
    await MessageWrites(store).store_messages([late])  # not announced yet: the index lags

    keys, links = record_keys(WS, [ann.email]), _links([ann.email])
    assert await index.threads(links, PageRequest(None, 10)) is None
    stored = await store.thread("thread-000")
    assert stored is not None
    await index.writer.record(
        ThreadIndexed(
            key=keys[0], workspace_id=WS, thread_id="thread-000", last_activity=stored.last_activity
        )
    )
    rows = await index.threads(links, PageRequest(None, 10))
    assert rows is not None
    assert [t.thread_id for t in rows] == ["thread-000", "thread-002", "thread-001"]


async def test_replicas_starting_together_on_an_empty_database_all_find_it_ready(
    db: Any,
) -> None:
    """The API and the projection (two deployments, docs/adr/0026) start at once on a new
    database: each marks the heads and the rosters ready, and none fails for the other."""
    marks = [MongoHeads(db).prepare() for _ in range(8)]
    marks += [MongoRosters(db).prepare() for _ in range(8)]
    assert await asyncio.gather(*marks) == [True] * 16


async def test_threads_stored_before_the_index_are_read_from_the_collection_until_marked(
    db: Any,
) -> None:
    store, index = TimelineStore(db), Index(db, head_size=50)
    ann = _who("ann@client.test", "client.test")
    await _thread(store, index, 1, ann, indexed=False)
    links = _links([ann.email])
    assert not await index.heads.prepare()
    assert await index.threads(links, PageRequest(None, 10)) is None
    await _thread(store, index, 1, ann)  # what index-timelines announces
    await index.heads.mark_ready()
    rows = await index.threads(links, PageRequest(None, 10))
    assert rows is not None
    assert [t.thread_id for t in rows] == ["thread-001"]


async def test_index_timelines_announces_every_stored_thread_in_bulk_then_marks_ready(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backfill, "ANNOUNCED_AT_ONCE", 2)
    store, index = TimelineStore(db), Index(db, head_size=50)
    ann = _who("ann@client.test", "client.test")
    for n in (1, 2, 3):
        await _thread(store, index, n, ann, indexed=False)
    recorded = RecordedPublisher()
    feed = HeadsFeed(recorded, MongoMemberships(db), "index", "rosters")

    count = await index_stored_threads(db, feed)

    assert count == 3
    assert [len({e.thread_id for _, e in batch}) for batch in recorded.batches] == [2, 1]
    await index.writer.record_all(recorded.take())
    rows = await index.threads(_links([ann.email]), PageRequest(None, 10))
    assert rows is not None
    assert [t.thread_id for t in rows] == ["thread-003", "thread-002", "thread-001"]


def _message(n: int, account: str, *people: Participant) -> StoredMessage:
    """Message ``n`` of thread-rows, ``n`` hours after T0, seen through ``account``."""
    return StoredMessage(
        item_id=f"item-rows-{n}", workspace_id=WS, thread_id="thread-rows",
        message_id=f"rows{n}@x.test", subject="Rows", sent_at=T0 + timedelta(hours=n),
        participants=people, participant_emails=tuple(p.email for p in people),
        company_domains=tuple(p.company_domain for p in people if p.company_domain),
        sources=(SOURCE.model_copy(update={"account_id": account}),),
    )  # fmt: skip


async def _announce_and_index(index: Index, *summaries: ThreadSummary) -> None:
    """What the projection and the index consumer do with summaries, rows included."""
    await index.feed.threads_changed(summaries)
    await index.writer.record_all(index.feed_published())


async def test_a_first_page_comes_from_the_rows_its_heads_keep(db: Any) -> None:
    store, index = TimelineStore(db), Index(db, head_size=50)
    assert await index.heads.prepare()
    ann, bob = _who("ann@client.test", "client.test"), _who("bob@other.test", "other.test")
    summaries = [
        await _thread(store, index, n, ann, *((bob,) if n % 2 else ()), indexed=False)
        for n in range(6)
    ]
    await _announce_and_index(index, *summaries)
    links, first = _links([ann.email]), PageRequest(None, 10)

    from_rows = await index.threads(links, first)

    assert from_rows == await index.indexed.thread_rows(links, first)
    await db["threads"].delete_many({})  # the heads' rows alone answer the first page
    assert await index.threads(links, first) == from_rows
    assert [t.thread_id for t in from_rows or []] == [f"thread-{n:03d}" for n in range(5, -1, -1)]


async def test_a_thread_that_loses_an_address_leaves_no_row_under_it(db: Any) -> None:
    store, index = TimelineStore(db), Index(db, head_size=50)
    assert await index.heads.prepare()
    ann, bob = _who("ann@client.test", "client.test"), _who("bob@other.test", "other.test")
    writes = MessageWrites(store)
    await writes.store_messages([_message(1, "acc-a", ann)])
    [both] = await writes.store_messages([_message(2, "acc-b", ann, bob)])
    await _announce_and_index(index, both)
    bobs, first = _links([bob.email]), PageRequest(None, 10)
    assert [t.thread_id for t in await index.threads(bobs, first) or []] == ["thread-rows"]

    # acc-b, the only source of the message to Bob, is disconnected
    removal = await remove_account_items(store, "acc-b")
    await index.feed.threads_replaced(removal.threads)
    await index.writer.record_all(index.feed_published())

    assert await index.threads(bobs, first) == []
    anns = await index.threads(_links([ann.email]), first)
    assert [(t.thread_id, t.message_count) for t in anns or []] == [("thread-rows", 1)]


async def test_a_row_too_long_to_keep_is_read_from_the_threads_instead(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handlers, "ROW_MAX_CHARS", 100)  # every row here is longer
    store, index = TimelineStore(db), Index(db, head_size=50)
    assert await index.heads.prepare()
    ann = _who("ann@client.test", "client.test")
    summaries = [await _thread(store, index, n, ann, indexed=False) for n in range(3)]
    await _announce_and_index(index, *summaries)
    keys = record_keys(WS, [ann.email])

    head = await index.heads.collection.find_one({"_id": keys[0]})
    assert head is not None
    assert head["rows"] == ""
    page = await index.threads(_links([ann.email]), PageRequest(None, 10))
    assert [t.thread_id for t in page or []] == ["thread-002", "thread-001", "thread-000"]


async def test_heads_not_fed_while_the_indexed_read_model_ran_answer_no_page(
    db: Any, settings: TimelineSettings
) -> None:
    store, index = TimelineStore(db), Index(db, head_size=50)
    assert await index.heads.prepare()
    ann = _who("ann@client.test", "client.test")
    await _thread(store, index, 1, ann)
    links, first = _links([ann.email]), PageRequest(None, 10)
    assert await index.threads(links, first) is not None

    indexed = settings.model_copy(update={"read_model": "indexed"})
    runtime = build_runtime("timeline-api", indexed)
    try:
        await build_services(runtime, indexed).prepare()  # a start on the indexed read model
    finally:
        await runtime.bulk.close()
        await runtime.mongo.close()
        runtime.tracer.shutdown()

    assert await index.threads(links, first) is None  # the threads collection answers
    assert not await index.heads.prepare()  # until `crm-admin index-timelines` runs
