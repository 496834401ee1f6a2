"""The heads read model's handlers over in-memory stores: what the projection's news
becomes on the index and rosters topics, and what their consumers make of it."""

from datetime import timedelta

from crm_schemas.records import PersonUpserted
from tests.unit.timeline_api.factories import T0, message, participant
from timeline_api.adapters.timelines.heads.events import RosterEntry, ThreadIndexed
from timeline_api.adapters.timelines.heads.handlers import HeadsFeed, IndexWriter, RosterWriter
from timeline_api.adapters.timelines.heads.index_rules import address_key, thread_keys
from timeline_api.adapters.timelines.heads.memory import (
    InMemoryHeads,
    InMemoryMemberships,
    InMemoryRosters,
    RecordedOutbox,
)
from timeline_api.domain.model import ThreadSummary
from timeline_api.domain.threads import summarise_thread
from timeline_api.ports.timelines import ThreadChange

WS = "ws"


def _summary(thread_id: str, minutes: int, *emails: str) -> ThreadSummary:
    people = tuple(participant(e, company_domain=e.rpartition("@")[2]) for e in emails)
    found = message(f"{thread_id}-{minutes}", minutes, participants=people)
    return summarise_thread(thread_id, [found.model_copy(update={"thread_id": thread_id})])


def _indexed(key: str, thread_id: str, minutes: int) -> ThreadIndexed:
    at = T0 + timedelta(minutes=minutes)
    return ThreadIndexed(key=key, workspace_id=WS, thread_id=thread_id, last_activity=at)


def _feed() -> tuple[HeadsFeed, RecordedOutbox, InMemoryMemberships]:
    outbox, memberships = RecordedOutbox(), InMemoryMemberships()
    return HeadsFeed(outbox, memberships, "index", "rosters"), outbox, memberships


def _person(company: str | None, *emails: str, minutes: int = 0) -> PersonUpserted:
    return PersonUpserted(
        person_id="p-ann",
        workspace_id=WS,
        name="Ann",
        emails=emails,
        company_id=company,
        updated_at=T0 + timedelta(minutes=minutes),
    )


async def test_a_poll_writes_each_head_once_and_its_redelivery_writes_nothing() -> None:
    heads = InMemoryHeads()
    writer = IndexWriter(heads, head_size=10)
    ann, bob = address_key(WS, "ann@client.test"), address_key(WS, "bob@client.test")
    poll = [_indexed(ann, "t1", 0), _indexed(ann, "t2", 5), _indexed(bob, "t1", 0)]

    await writer.record_all(poll)
    await writer.record_all(poll)

    assert heads.saves == 2
    assert list(heads.stored[ann].entries) == ["t1", "t2"]
    assert list(heads.stored[bob].entries) == ["t1"]


async def test_a_head_keeps_its_newest_threads_and_remembers_what_it_dropped() -> None:
    heads = InMemoryHeads()
    writer = IndexWriter(heads, head_size=2)
    key = address_key(WS, "ann@client.test")

    for n in range(3):
        await writer.record(_indexed(key, f"t{n}", n))

    head = heads.stored[key]
    assert sorted(head.entries) == ["t1", "t2"]
    assert head.boundary == (T0, "t0")


async def test_the_feed_announces_a_thread_under_each_key_with_its_row() -> None:
    feed, outbox, _ = _feed()
    summary = _summary("t1", 0, "ann@client.test", "bob@other.test")

    await feed.threads_changed([summary])

    announced = outbox.take("index")
    keys = thread_keys(WS, summary.participant_emails, summary.company_domains)
    assert [key for _, key, _ in announced] == keys
    assert all(e.row == summary.model_dump_json() for _, _, e in announced)


async def test_a_thread_summarised_again_leaves_the_keys_it_lost_and_keeps_the_others() -> None:
    feed, outbox, _ = _feed()
    before = _summary("t1", 0, "ann@client.test", "bob@other.test")
    after = _summary("t1", 0, "ann@client.test")

    await feed.threads_replaced([ThreadChange(before, after), ThreadChange(after, None)])

    announced = [(key, e.gone, e.row is not None) for _, key, e in outbox.take("index")]
    old = thread_keys(WS, before.participant_emails, before.company_domains)
    new = thread_keys(WS, after.participant_emails, after.company_domains)
    lost = [k for k in old if k not in new]
    assert lost, "the test needs a key the thread lost"
    assert announced == (
        [(k, True, False) for k in lost]
        + [(k, False, True) for k in new]
        + [(k, True, False) for k in new]  # no message left: it leaves every key
    )


async def test_a_thread_that_left_a_key_leaves_its_head() -> None:
    feed, outbox, _ = _feed()
    heads = InMemoryHeads()
    writer = IndexWriter(heads)
    before = _summary("t1", 0, "ann@client.test", "bob@other.test")
    other = _summary("t2", 1, "bob@other.test")
    await feed.threads_changed([before, other])
    await feed.threads_replaced([ThreadChange(before, _summary("t1", 0, "ann@client.test"))])

    await writer.record_all([e for _, _, e in outbox.take("index")])

    bob = address_key(WS, "bob@other.test")
    assert list(heads.stored[bob].entries) == ["t2"]
    assert list(heads.stored[bob].rows) == ["t2"]
    assert list(heads.stored[address_key(WS, "ann@client.test")].entries) == ["t1"]


async def test_the_feed_and_the_index_consumer_put_a_thread_on_its_heads() -> None:
    feed, outbox, _ = _feed()
    heads = InMemoryHeads()
    summary = _summary("t1", 0, "ann@client.test")

    await feed.threads_changed([summary])
    await IndexWriter(heads).record_all([e for _, _, e in outbox.take("index")])

    head = heads.stored[address_key(WS, "ann@client.test")]
    assert head.rows == {"t1": summary.model_dump_json()}


async def test_a_person_who_changes_company_moves_between_rosters_once() -> None:
    feed, outbox, memberships = _feed()
    rosters = InMemoryRosters()
    writer = RosterWriter(rosters)
    joined = _person("acme", "Ann@Acme.test")
    moved = _person("globex", "ann@acme.test", minutes=1)

    for version in (joined, moved, joined, moved):  # then a replay of the records topic
        await feed.people_changed([version])
    entries: list[RosterEntry] = [e for _, _, e in outbox.take("rosters")]
    await writer.record_all(entries + entries)  # a redelivered poll

    assert [(e.company_id, e.emails) for e in entries] == [
        ("acme", ("ann@acme.test",)),
        ("acme", ()),
        ("globex", ("ann@acme.test",)),
    ]
    assert {c: r["p-ann"][1] for c, r in rosters.stored.items()} == {
        "acme": (),
        "globex": ("ann@acme.test",),
    }
    assert memberships.stored["p-ann"].company_id == "globex"


async def test_a_version_that_changes_neither_company_nor_addresses_publishes_nothing() -> None:
    feed, outbox, _ = _feed()
    await feed.people_changed([_person("acme", "ann@acme.test")])
    outbox.take("rosters")

    await feed.people_changed([_person("acme", "ann@acme.test", minutes=5)])

    assert outbox.take("rosters") == []
