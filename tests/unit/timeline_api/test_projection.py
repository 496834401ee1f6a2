"""The projection's handlers, one event at a time, over the in-memory read model: what each
kind of event leaves on the timelines, and what the read model's feed is told."""

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from crm_schemas.base import utcnow
from crm_schemas.calendar import RawEventRemoved
from crm_schemas.config import AccountConfigured, WorkspaceConfigured
from crm_schemas.ids import company_id
from crm_schemas.mail import RawMessageRemoved
from crm_schemas.outcomes import DropReason, ItemDropped
from crm_schemas.records import OpportunityUpserted, PersonUpserted
from crm_schemas.sync import SyncKind, SyncState, SyncStatusChanged
from tests.integration.timeline_api.builders import company, mail, meeting, person
from timeline_api.adapters.memory import InMemoryRecords, InMemorySyncStatuses
from timeline_api.adapters.timelines.memory import InMemoryTimelines
from timeline_api.domain.model import ThreadSummary
from timeline_api.domain.scope import PageRequest, RecordScope, Window
from timeline_api.ports.timelines import ThreadChange
from timeline_api.service.projection import Projection

WS = "ws-projection"
FIRST = PageRequest(None, 10)


class RecordingFeed:
    """A read model's feed that keeps what it was told."""

    def __init__(self) -> None:
        self.changed: list[ThreadSummary] = []
        self.replaced: list[ThreadChange] = []
        self.people: list[PersonUpserted] = []

    async def threads_changed(self, summaries: Sequence[ThreadSummary]) -> None:
        self.changed += summaries

    async def threads_replaced(self, changes: Sequence[ThreadChange]) -> None:
        self.replaced += changes

    async def people_changed(self, people: Sequence[PersonUpserted]) -> None:
        self.people += people


class World:
    """The projection over in-memory ports, and what can be read back."""

    def __init__(self) -> None:
        self.records = InMemoryRecords()
        self.timelines = InMemoryTimelines(self.records)
        self.feed = RecordingFeed()
        self.statuses = InMemorySyncStatuses()
        self.projection = Projection(self.timelines, self.records, self.feed, self.statuses)

    async def threads_of(self, *emails: str) -> list[tuple[str | None, int]]:
        page = await self.timelines.threads(RecordScope.person(WS, emails), FIRST)
        return [(t.subject, t.message_count) for t in page.items]

    async def meetings_of(self, *emails: str) -> list[Any]:
        page = await self.timelines.events(RecordScope.person(WS, emails), Window(), FIRST)
        return [(e.item_id, sorted(s.account_id for s in e.sources)) for e in page.items]


async def test_a_poll_of_messages_puts_each_thread_on_the_timeline_once() -> None:
    world = World()
    first, other = mail(WS, "m1@x", subject="Pricing"), mail(WS, "m2@x", subject="Lunch")
    reply = mail(WS, "m3@x", root="m1@x", minutes=30, subject="Re: Pricing")

    await world.projection.messages([first, other, reply])

    assert await world.threads_of("ann@client.test") == [("Pricing", 2), ("Lunch", 1)]
    assert sorted(s.message_count for s in world.feed.changed) == [1, 2]


async def test_a_redelivered_message_is_counted_once() -> None:
    world = World()
    message = mail(WS, "m1@x")

    await world.projection.messages([message])
    await world.projection.message(message)  # its poll failed; it comes again alone

    assert await world.threads_of("ann@client.test") == [("Pricing", 1)]
    assert [s.message_count for s in world.feed.changed] == [1, 1]


async def test_a_message_seen_in_two_mailboxes_is_one_message_with_two_sources() -> None:
    world = World()
    mine, theirs = mail(WS, "m1@x", account="acc-a"), mail(WS, "m1@x", account="acc-b")

    await world.projection.messages([mine])
    await world.projection.messages([theirs])

    [stored] = await world.timelines.thread_messages(mine.thread_id, with_body=False)
    assert sorted(s.account_id for s in stored.sources) == ["acc-a", "acc-b"]
    assert await world.threads_of("ann@client.test") == [("Pricing", 1)]


async def test_a_meeting_stays_until_its_last_calendar_removes_it() -> None:
    world = World()
    mine = meeting(WS, "uid-1", attendees=("eve@client.test",))
    theirs = mine.model_copy(
        update={"event": mine.event.model_copy(update={"account_id": "acc-b"})}
    )
    await world.projection.event(mine)
    await world.projection.event(theirs)
    item = mine.event.item_id

    def removal(account: str) -> RawEventRemoved:
        return RawEventRemoved(
            item_id=item, workspace_id=WS, account_id=account, ical_uid="uid-1", reason="deleted"
        )

    await world.projection.event(removal("acc-a"))
    assert await world.meetings_of("eve@client.test") == [(item, ["acc-b"])]
    await world.projection.event(removal("acc-b"))
    assert await world.meetings_of("eve@client.test") == []


async def test_a_person_is_kept_with_normalised_addresses_and_the_read_model_hears_of_it() -> None:
    world = World()
    ann = person(WS, "Ann", "Ann@Client.test", "shared@client.test")

    await world.projection.record(ann)

    stored = await world.records.person(ann.person_id)
    assert stored is not None
    assert stored.emails == ("ann@client.test", "shared@client.test")
    found = await world.records.people_by_email("SHARED@client.test", WS)
    assert [p.person_id for p in found] == [ann.person_id]
    assert world.feed.people == [ann]


async def test_an_older_version_of_a_person_is_not_kept_but_the_read_model_hears_of_it() -> None:
    world = World()
    newer = person(WS, "Ann", "ann@client.test")
    older = newer.model_copy(
        update={"name": "Old Ann", "updated_at": newer.updated_at - timedelta(minutes=1)}
    )

    await world.projection.record(newer)
    await world.projection.record(older)  # a replay, or the records API's own version again

    stored = await world.records.person(newer.person_id)
    assert stored is not None
    assert stored.name == "Ann"
    assert world.feed.people == [newer, older]


async def test_a_merged_person_is_kept_pointing_at_the_survivor() -> None:
    world = World()
    gone = person(WS, "Bob", "bob@client.test").model_copy(update={"merged_into": "p-robert"})

    await world.projection.record(gone)

    stored = await world.records.person(gone.person_id)
    assert stored is not None
    assert stored.merged_into == "p-robert"


async def test_a_company_is_kept_and_found_by_its_domains() -> None:
    world = World()
    client = company(WS, "Client.test")

    await world.projection.record(client)

    assert [c.company_id for c in await world.records.companies_by_domain("client.test", WS)] == [
        company_id(WS, "Client.test")
    ]
    assert world.feed.people == []


async def test_an_opportunity_is_kept() -> None:
    world = World()
    deal = OpportunityUpserted(opportunity_id="o-1", workspace_id=WS, name="Renewal")

    await world.projection.record(deal)

    stored = await world.records.opportunity("o-1")
    assert stored is not None
    assert stored.name == "Renewal"


async def test_a_drop_is_remembered_for_each_account_it_was_dropped_from() -> None:
    world = World()
    drop = ItemDropped(
        item_id="item-1",
        workspace_id=WS,
        account_id="acc-a",
        kind="message",
        natural_id="m1@x",
        reason=DropReason.INTERNAL,
        rule="is_internal",
    )

    await world.projection.drops([drop])
    await world.projection.dropped(drop.model_copy(update={"account_id": "acc-b"}))

    _, dropped = await world.timelines.explain_item("item-1")
    assert dropped is not None
    assert dropped["reason"] == "internal"
    assert sorted(dropped["accounts"]) == ["acc-a", "acc-b"]


async def test_an_older_sync_report_does_not_replace_a_newer_one() -> None:
    world = World()
    now = utcnow()

    def report(state: SyncState, at: Any) -> SyncStatusChanged:
        return SyncStatusChanged(
            account_id="acc-a", workspace_id=WS, kind=SyncKind.MAIL, state=state, at=at
        )

    await world.projection.status(report(SyncState.IMPORTING, now))
    await world.projection.status(report(SyncState.UP_TO_DATE, now + timedelta(minutes=1)))
    await world.projection.status(report(SyncState.IMPORTING, now))  # redelivered

    kept = (await world.statuses.statuses("acc-a"))[SyncKind.MAIL]
    assert (kept["state"], kept["started_at"], kept["last_sync_at"]) == (
        "up_to_date",
        now,
        now + timedelta(minutes=1),
    )


async def test_a_disconnected_account_takes_away_what_only_it_brought() -> None:
    world = World()
    shared = [mail(WS, "m1@x", account=a) for a in ("acc-a", "acc-b")]
    only_b = mail(WS, "m2@x", root="m1@x", minutes=10, account="acc-b")
    await world.projection.messages([*shared, only_b])
    gone = AccountConfigured(
        account_id="acc-b",
        workspace_id=WS,
        owner_member_id="member-acc-b",
        email="b@us.test",
        disconnected=True,
    )

    await world.projection.config(gone)

    assert await world.threads_of("ann@client.test") == [("Pricing", 1)]
    [change] = world.feed.replaced
    assert change.before is not None
    assert change.after is not None
    assert (change.before.message_count, change.after.message_count) == (2, 1)


async def test_other_config_changes_take_nothing_away() -> None:
    world = World()
    await world.projection.messages([mail(WS, "m1@x")])

    await world.projection.config(
        WorkspaceConfigured(workspace_id=WS, name="Us", domains=("us.test",))
    )
    still = AccountConfigured(
        account_id="acc-a", workspace_id=WS, owner_member_id="member-acc-a", email="a@us.test"
    )
    await world.projection.config(still)

    assert await world.threads_of("ann@client.test") == [("Pricing", 1)]
    assert world.feed.replaced == []


async def test_a_withdrawn_mail_copy_in_a_poll_is_applied_in_its_order() -> None:
    world = World()
    kept = mail(WS, "m1@x")
    other = mail(WS, "m2@x", subject="Lunch")
    removal = RawMessageRemoved(
        item_id=kept.message.item_id,
        workspace_id=WS,
        account_id=kept.message.account_id,
        message_id="m1@x",
        thread_id=kept.thread_id,
        folder="INBOX",
        reason="dropped",
        removed_at=kept.message.fetched_at,
    )

    await world.projection.messages([kept, removal, other])

    assert await world.threads_of("ann@client.test") == [("Lunch", 1)]
    [change] = world.feed.replaced
    assert change.before is not None
    assert change.after is None, "its only message left: the thread leaves"
    await world.projection.messages([kept])  # replayed at the version withdrawn: allowed again
    assert sorted(await world.threads_of("ann@client.test")) == [("Lunch", 1), ("Pricing", 1)]
