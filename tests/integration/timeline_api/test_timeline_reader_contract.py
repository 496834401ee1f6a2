"""One contract for the timeline read models: what the projection stores (and tells the
read model), a tab reads back, page after page. It runs against the heads (with heads
big enough for every page, and with heads of two threads, so deep pages come from the
indexed queries) and the indexed queries on the real FerretDB, and against the in-memory
read model, so that fake cannot drift."""

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from crm_schemas.calendar import RawEventRemoved
from crm_schemas.ids import message_item_id
from crm_schemas.outcomes import DropReason, ItemDropped
from crm_schemas.records import PersonUpserted
from crm_schemas.topics import Topics
from tests.integration.timeline_api.builders import at, mail, meeting, person
from timeline_api.adapters.projection_store import MongoProjectionStore
from timeline_api.adapters.records import MongoRecords
from timeline_api.adapters.timeline_store import TimelineStore
from timeline_api.adapters.timelines.heads import HeadsReadModel
from timeline_api.adapters.timelines.heads.handlers import IndexWriter, RosterWriter
from timeline_api.adapters.timelines.heads.memory import RecordedOutbox
from timeline_api.adapters.timelines.indexed import IndexedReadModel, NothingToFeed
from timeline_api.adapters.timelines.memory import InMemoryTimelines
from timeline_api.domain.copies import CopyRemoved
from timeline_api.domain.records import event_record, message_record
from timeline_api.domain.scope import PageRequest, RecordScope, Window
from timeline_api.ports.records import RecordStore
from timeline_api.ports.timelines import (
    Conversations,
    ProjectionStore,
    TimelineFeed,
    TimelineReader,
)

pytestmark = pytest.mark.integration

WS = "ws-contract"
OTHER_WS = "ws-elsewhere"


@dataclass
class ReadModel:
    """A read model under test: the projection's side of it, and its reader."""

    store: ProjectionStore
    records: RecordStore
    feed: TimelineFeed
    reader: TimelineReader
    conversations: Conversations
    settle: Callable[[], Awaitable[None]] = field(default=lambda: _nothing())

    async def messages(self, *events: Any) -> None:
        """What the projection does with a poll of timeline messages."""
        summaries = await self.store.store_messages([message_record(e) for e in events])
        await self.feed.threads_changed(summaries)
        await self.settle()

    async def people(self, *people: PersonUpserted) -> None:
        """What the projection does with versions of people."""
        for version in people:
            await self.records.upsert_person(version)
        await self.feed.people_changed(people)
        await self.settle()

    async def disconnect(self, account_id: str) -> None:
        """What the projection does when an account is disconnected."""
        removal = await self.store.remove_account(account_id)
        await self.feed.threads_replaced(removal.threads)
        await self.settle()

    async def withdraw(self, *removals: CopyRemoved) -> None:
        """What the projection does with withdrawn mail copies (the matcher drops them)."""
        await self.feed.threads_replaced(await self.store.remove_messages(list(removals)))
        await self.settle()

    async def thread_ids(self, scope: RecordScope, limit: int = 2) -> list[list[str]]:
        """Every page of the scope's threads, walked with the cursors the pages give."""
        pages: list[list[str]] = []
        after = None
        while True:
            page = await self.reader.threads(scope, PageRequest(after, limit))
            pages.append([t.thread_id for t in page.items])
            if page.next is None:
                return pages
            after = page.next

    async def counts(self, scope: RecordScope) -> list[int]:
        page = await self.reader.threads(scope, PageRequest(None, 50))
        return [t.message_count for t in page.items]


async def _nothing() -> None:
    return None


def _heads(db: Any, head_size: int) -> ReadModel:
    """The heads on FerretDB; their two consumers are run by ``settle`` on what the feed
    published, as Kafka would deliver it."""
    outbox = RecordedOutbox()
    model = HeadsReadModel(db, outbox, Topics("t"))
    index, rosters = IndexWriter(model.heads, head_size), RosterWriter(model.rosters)

    async def settle() -> None:
        await index.record_all([e for _, _, e in outbox.take("t.timeline.index.v1")])
        await rosters.record_all([e for _, _, e in outbox.take("t.timeline.rosters.v1")])

    store = TimelineStore(db)
    projection = MongoProjectionStore(store)
    return ReadModel(projection, MongoRecords(db), model.feed, model.reader, store, settle)


@pytest.fixture(params=["memory", "indexed", "heads", "heads of two threads"])
async def model(request: pytest.FixtureRequest, db: Any) -> AsyncIterator[ReadModel]:
    if request.param == "memory":
        timelines = InMemoryTimelines()
        yield ReadModel(timelines, timelines.records, NothingToFeed(), timelines, timelines)
        return
    if request.param == "indexed":
        store = TimelineStore(db)
        reader = IndexedReadModel(db).reader
        yield ReadModel(
            MongoProjectionStore(store), MongoRecords(db), NothingToFeed(), reader, store
        )
        return
    await HeadsReadModel(db, RecordedOutbox(), Topics("t")).prepare()  # an empty read model
    yield _heads(db, 1000 if request.param == "heads" else 2)


def _to(*emails: str, n: int, ws: str = WS, account: str = "acc-a", root: str = "") -> Any:
    """Message ``n`` (``n`` minutes after T0) to these addresses."""
    return mail(ws, f"m{n}@x", root=root or None, minutes=n, to=emails, account=account)


def _thread(n: int, ws: str = WS) -> str:
    return str(_to("x@y.test", n=n, ws=ws).thread_id)


async def test_a_persons_threads_come_newest_first_a_page_at_a_time(model: ReadModel) -> None:
    ann = person(WS, "Ann", "ann@client.test", "ann@gmail.com")
    await model.people(ann)
    await model.messages(*(_to("ann@client.test", n=n) for n in (1, 3, 5)))
    await model.messages(_to("ann@gmail.com", n=4), _to("bob@client.test", n=2))

    pages = await model.thread_ids(RecordScope.person(WS, ann.emails))

    assert pages == [[_thread(5), _thread(4)], [_thread(3), _thread(1)]]


async def test_a_tab_reads_its_own_workspace_only(model: ReadModel) -> None:
    await model.messages(_to("ann@client.test", n=1), _to("ann@client.test", n=2, ws=OTHER_WS))

    pages = await model.thread_ids(RecordScope.person(WS, ["ann@client.test"]))

    assert pages == [[_thread(1)]]


async def test_a_thread_that_gains_a_message_moves_to_the_top(model: ReadModel) -> None:
    await model.messages(*(_to("ann@client.test", n=n) for n in (1, 2, 3)))
    await model.messages(_to("ann@client.test", n=9, root="m1@x"))
    scope = RecordScope.person(WS, ["ann@client.test"])

    assert await model.thread_ids(scope) == [[_thread(1), _thread(3)], [_thread(2)]]
    assert await model.counts(scope) == [2, 1, 1]


async def test_a_companys_tab_is_its_domains_and_its_peoples_addresses(model: ReadModel) -> None:
    eve = person(WS, "Eve", "eve@gmail.com").model_copy(update={"company_id": "c-client"})
    await model.people(eve)
    await model.messages(
        _to("bob@client.test", n=1),  # on the company's domain
        _to("eve@gmail.com", n=2),  # one of its people, elsewhere
        _to("zed@other.test", n=3),  # neither
    )
    scope = RecordScope.of_company(WS, "c-client", ["client.test"])

    assert await model.thread_ids(scope, limit=5) == [[_thread(2), _thread(1)]]


async def test_a_person_who_changes_company_takes_their_threads_along(model: ReadModel) -> None:
    eve = person(WS, "Eve", "eve@gmail.com").model_copy(update={"company_id": "c-acme"})
    later = eve.updated_at + timedelta(seconds=1)
    moved = eve.model_copy(update={"company_id": "c-globex", "updated_at": later})
    await model.people(eve)
    await model.messages(_to("eve@gmail.com", n=1))
    await model.people(moved)

    acme = RecordScope.of_company(WS, "c-acme", ["acme.test"])
    globex = RecordScope.of_company(WS, "c-globex", ["globex.test"])
    assert await model.thread_ids(acme) == [[]]
    assert await model.thread_ids(globex) == [[_thread(1)]]


async def test_an_opportunity_shows_a_thread_linked_both_ways_once(model: ReadModel) -> None:
    await model.messages(
        _to("bob@client.test", "ann@gmail.com", n=1),  # the company's and the person's
        _to("ann@gmail.com", n=2),
        _to("bob@client.test", n=3),
    )
    scope = RecordScope.of_company(WS, "c-client", ["client.test"], ["ann@gmail.com"])

    assert await model.thread_ids(scope) == [[_thread(3), _thread(2)], [_thread(1)]]


async def test_a_disconnected_accounts_messages_leave_and_their_threads_shrink(
    model: ReadModel,
) -> None:
    await model.messages(
        _to("ann@client.test", n=1, account="acc-a"),
        _to("ann@client.test", n=1, account="acc-b"),
        _to("ann@client.test", "bob@other.test", n=2, root="m1@x", account="acc-b"),
        _to("bob@other.test", n=3, account="acc-b"),
    )

    await model.disconnect("acc-b")

    assert await model.counts(RecordScope.person(WS, ["ann@client.test"])) == [1]
    assert await model.thread_ids(RecordScope.person(WS, ["bob@other.test"])) == [[]]


async def test_meetings_come_in_the_windows_order_a_page_at_a_time(model: ReadModel) -> None:
    for n in (0, 60, 120, 180):
        await model.store.upsert_event(
            event_record(meeting(WS, f"uid-{n}", minutes=n, attendees=("ann@client.test",)))
        )
    scope = RecordScope.person(WS, ["ann@client.test"])

    async def starts(window: Window, limit: int = 2) -> list[list[int]]:
        pages, after = [], None
        while True:
            page = await model.reader.events(scope, window, PageRequest(after, limit))
            pages.append([int((e.starts_at - at(0)).total_seconds() // 60) for e in page.items])
            if page.next is None:
                return pages
            after = page.next

    assert await starts(Window()) == [[180, 120], [60, 0]]
    assert await starts(Window(newest_first=False), limit=3) == [[0, 60, 120], [180]]
    assert await starts(Window(at(60), at(180))) == [[120, 60]]


async def test_a_meeting_leaves_when_its_last_calendar_removes_it(model: ReadModel) -> None:
    mine = meeting(WS, "uid-1", attendees=("ann@client.test",))
    theirs = mine.model_copy(update={"event": mine.event.model_copy(update={"account_id": "b"})})
    for version in (mine, theirs):
        await model.store.upsert_event(event_record(version))
    scope, item = RecordScope.person(WS, ["ann@client.test"]), mine.event.item_id
    removal = RawEventRemoved(
        item_id=item, workspace_id=WS, account_id="acc-a", ical_uid="uid-1", reason="deleted"
    )

    await model.store.remove_event_source(CopyRemoved(item, removal.account_id, removal.removed_at))
    page = await model.reader.events(scope, Window(), PageRequest())
    assert [sorted(s.account_id for s in e.sources) for e in page.items] == [["b"]]
    await model.store.remove_event_source(CopyRemoved(item, "b", removal.removed_at))
    assert (await model.reader.events(scope, Window(), PageRequest())).items == []


async def test_a_thread_reads_back_its_messages_oldest_first(model: ReadModel) -> None:
    await model.messages(
        _to("ann@client.test", n=9, root="m1@x"), _to("ann@client.test", n=1, account="acc-b")
    )
    await model.messages(_to("ann@client.test", n=1))  # the same message through acc-a

    thread = await model.conversations.thread(_thread(1))
    with_body = await model.conversations.thread_messages(_thread(1), with_body=True)
    without = await model.conversations.thread_messages(_thread(1), with_body=False)

    assert thread is not None
    assert (thread.message_count, thread.last_activity) == (2, at(9))
    assert [m.message_id for m in with_body] == ["m1@x", "m9@x"]
    assert sorted(s.account_id for s in with_body[0].sources) == ["acc-a", "acc-b"]
    assert [m.body_text for m in with_body] == ["body of m1@x", "body of m9@x"]
    assert [m.body_text for m in without] == [None, None]
    assert await model.conversations.thread("no-such-thread") is None


async def test_a_message_is_explained_by_what_is_stored_of_it(model: ReadModel) -> None:
    await model.messages(_to("ann@client.test", n=1))
    dropped = ItemDropped(
        item_id="dropped-item",
        workspace_id=WS,
        account_id="acc-a",
        kind="message",
        natural_id="d@x",
        reason=DropReason.INTERNAL,
        rule="is_internal",
    )
    await model.store.record_dropped([dropped, dropped.model_copy(update={"account_id": "b"})])

    message, none = await model.conversations.explain_item(message_item_id(WS, "m1@x"))
    nothing, drop = await model.conversations.explain_item("dropped-item")

    assert message is not None
    assert (message["thread_id"], "body_text" in message) == (_thread(1), False)
    assert none is None
    assert nothing is None
    assert drop is not None
    assert (drop["reason"], drop["rule"], sorted(drop["accounts"])) == (
        "internal",
        "is_internal",
        ["acc-a", "b"],
    )


async def test_threads_that_lose_messages_to_withdrawn_copies_leave_or_change_their_tabs(
    model: ReadModel,
) -> None:
    root = mail(WS, "w1@x", to=("ann@client.test", "bob@client.test"), minutes=0)
    reply = mail(WS, "w2@x", root="w1@x", to=("bob@client.test",), minutes=10)
    alone = mail(WS, "w3@x", to=("ann@client.test",), minutes=20, subject="Alone")
    await model.messages(root, reply, alone)
    ann = RecordScope.person(WS, ["ann@client.test"])
    bob = RecordScope.person(WS, ["bob@client.test"])
    assert await model.thread_ids(ann, limit=5) == [[alone.thread_id, root.thread_id]]

    def gone(event: Any) -> CopyRemoved:
        raw = event.message
        return CopyRemoved(raw.item_id, raw.account_id, raw.fetched_at)  # the version kept

    await model.withdraw(gone(root), gone(alone))

    assert await model.thread_ids(ann, limit=5) == [[]], "ann was only on what left"
    assert await model.thread_ids(bob, limit=5) == [[reply.thread_id]]
    assert await model.counts(bob) == [1]
    assert await model.conversations.thread(alone.thread_id) is None
