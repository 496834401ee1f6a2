"""One calendar job against in-memory ports."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from crm_schemas.calendar import RawEvent, RawEventRemoved
from crm_schemas.config import AccountConfigured, CalDavConnection, CalendarSettings
from crm_schemas.ids import copy_key
from crm_schemas.outcomes import DropReason, ItemDropped
from crm_schemas.sync import SyncState, SyncStatusChanged
from fetcher.adapters.memory import (
    InMemoryCalendars,
    InMemoryCalendarStates,
    PlainPasswords,
    RecordingPublisher,
)
from fetcher.domain.calendars import fell_out_of_window, plan_object, selected_calendars
from fetcher.domain.ical import Unusable
from fetcher.domain.model import CalendarInfo, CalendarResource
from fetcher.settings import FetcherSettings
from fetcher.sync_calendar import CalendarPorts, run_calendar_job, sync_window

FAKE_PASSWORD = "secret"  # what the in-memory fakes accept
SETTINGS = FetcherSettings(topic_prefix="t")
TOPICS = SETTINGS.topics


def account(password: str = FAKE_PASSWORD) -> AccountConfigured:
    return AccountConfigured(
        account_id="acc1",
        workspace_id="ws1",
        owner_member_id="m1",
        email="owner@acme.test",
        caldav=CalDavConnection(url="https://dav.test/", username="o", password_encrypted=password),
    )


def resource(
    uid: str, extra: str = "", start: str = "20240610T090000Z", etag: str | None = None
) -> CalendarResource:
    ical = (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nBEGIN:VEVENT\n"
        f"UID:{uid}\nDTSTART:{start}\nSUMMARY:Meeting {uid}\n{extra}"
        "END:VEVENT\nEND:VCALENDAR\n"
    )
    return CalendarResource(calendar="Work", href=f"/cal/{uid}.ics", ical=ical, etag=etag)


async def run(
    calendars: InMemoryCalendars,
    password: str = FAKE_PASSWORD,
    states: InMemoryCalendarStates | None = None,
    chosen: tuple[str, ...] = (),
    now: datetime | None = None,
) -> RecordingPublisher:
    published = RecordingPublisher()
    ports = CalendarPorts(
        SETTINGS, calendars, published, PlainPasswords(), states or InMemoryCalendarStates()
    )
    owner = account(password)
    owner = owner.model_copy(
        update={"calendar": CalendarSettings(calendars=chosen)} if chosen else {}
    )
    await run_calendar_job(owner, ports, now)
    return published


def raw(published: RecordingPublisher) -> list[RawEvent | RawEventRemoved]:
    return [
        e for e in published.on(TOPICS.calendar_raw) if isinstance(e, RawEvent | RawEventRemoved)
    ]


async def test_public_events_are_published_private_ones_and_unreadable_ones_dropped():
    calendars = InMemoryCalendars(
        [resource("pub"), resource("priv", "CLASS:PRIVATE\n"), resource("broken", "")]
    )
    calendars.resources[2] = CalendarResource("Work", "/cal/b.ics", "garbage")
    published = await run(calendars)
    (event,) = published.on(TOPICS.calendar_raw)
    assert isinstance(event, RawEvent)
    assert event.ical_uid == "pub"
    dropped, unreadable = published.on(TOPICS.dropped)
    assert isinstance(dropped, ItemDropped)
    assert dropped.natural_id == "priv"
    assert "Meeting priv" not in dropped.model_dump_json()
    assert isinstance(unreadable, ItemDropped)
    assert unreadable.reason is DropReason.UNREADABLE
    assert unreadable.natural_id == "/cal/b.ics"  # no UID could be read: named by its href
    (status,) = published.on(TOPICS.sync_status)
    assert isinstance(status, SyncStatusChanged)
    assert (status.state, status.done) == (SyncState.UP_TO_DATE, 2)


async def test_a_wrong_calendar_password_is_a_failing_status():
    published = await run(InMemoryCalendars([resource("pub")]), password="nope")
    assert published.on(TOPICS.calendar_raw) == []
    (status,) = published.on(TOPICS.sync_status)
    assert isinstance(status, SyncStatusChanged)
    assert status.state is SyncState.FAILING
    assert status.reason == "The CalDAV server refused the password"


def test_the_window_spans_the_configured_past_and_future():
    now = datetime(2024, 1, 1, tzinfo=UTC)
    start, end = sync_window(SETTINGS, now)
    assert now - start == timedelta(days=5 * 365)
    assert end - now == timedelta(days=365)


async def test_a_second_sync_with_nothing_changed_publishes_no_event():
    calendars, states = InMemoryCalendars([resource("a"), resource("b")]), InMemoryCalendarStates()
    assert len(raw(await run(calendars, states=states))) == 2
    assert raw(await run(calendars, states=states)) == []
    assert calendars.changes_asked == [None, "0"]


async def test_a_moved_meeting_is_published_again_with_its_new_time():
    calendars, states = InMemoryCalendars([resource("a")]), InMemoryCalendarStates()
    await run(calendars, states=states)
    calendars.put(resource("a", start="20240611T150000Z"))
    (moved,) = raw(await run(calendars, states=states))
    assert isinstance(moved, RawEvent)
    assert moved.starts_at.isoformat() == "2024-06-11T15:00:00+00:00"


async def test_a_deleted_meeting_is_removed_under_the_key_of_its_versions():
    calendars, states = InMemoryCalendars([resource("a"), resource("b")]), InMemoryCalendarStates()
    before = await run(calendars, states=states)
    first = {e.ical_uid: e.item_id for e in raw(before)}
    versions = {k for t, k, _ in before.sent if t == TOPICS.calendar_raw}
    calendars.delete("/cal/a.ics")
    published = await run(calendars, states=states)
    (removed,) = raw(published)
    assert isinstance(removed, RawEventRemoved)
    assert (removed.item_id, removed.reason) == (first["a"], "deleted")
    # keyed by copy (item and account), as its versions: a compacted calendar.raw keeps
    # the removal as this calendar's last word on the meeting
    (key,) = [k for t, k, _ in published.sent if t == TOPICS.calendar_raw]
    assert key == copy_key(first["a"], removed.account_id)
    assert key in versions


async def test_a_cancelled_meeting_is_removed_with_its_reason():
    calendars, states = InMemoryCalendars([resource("a")]), InMemoryCalendarStates()
    await run(calendars, states=states)
    calendars.put(resource("a", "STATUS:CANCELLED\n"))
    (removed,) = raw(await run(calendars, states=states))
    assert isinstance(removed, RawEventRemoved)
    assert removed.reason == "cancelled"


async def test_a_meeting_made_private_is_removed_and_dropped_without_content():
    calendars, states = InMemoryCalendars([resource("a")]), InMemoryCalendarStates()
    await run(calendars, states=states)
    calendars.put(resource("a", "CLASS:PRIVATE\n"))
    published = await run(calendars, states=states)
    (removed,) = raw(published)
    assert isinstance(removed, RawEventRemoved)
    assert removed.reason == "private"
    assert "Meeting a" not in removed.model_dump_json()


async def test_occurrences_a_series_no_longer_has_are_removed():
    weekly = "RRULE:FREQ=WEEKLY;COUNT=3\n"
    now = datetime.now(UTC).strftime("%Y%m%dT090000Z")
    calendars = InMemoryCalendars([resource("s", weekly, start=now)])
    states = InMemoryCalendarStates()
    assert len(raw(await run(calendars, states=states))) == 3
    calendars.put(resource("s", weekly.replace("3", "2"), start=now))
    events = raw(await run(calendars, states=states))
    assert [type(e).__name__ for e in events].count("RawEventRemoved") == 1
    assert [type(e).__name__ for e in events].count("RawEvent") == 2


async def test_an_expired_token_resyncs_everything_without_duplicates_or_removals():
    calendars, states = InMemoryCalendars([resource("a"), resource("b")]), InMemoryCalendarStates()
    first = raw(await run(calendars, states=states))
    state = states.states[("acc1", "/cal/work/")]
    states.states[("acc1", "/cal/work/")] = replace(state, token="expired")
    again = raw(await run(calendars, states=states))
    assert sorted(e.item_id for e in again) == sorted(e.item_id for e in first)
    assert all(isinstance(e, RawEvent) for e in again)


async def test_a_full_listing_unchanged_by_etag_publishes_nothing_and_finds_deletions():
    calendars = InMemoryCalendars([resource("a", etag="1"), resource("b", etag="1")])
    states = InMemoryCalendarStates()
    await run(calendars, states=states)
    calendars.resources = [resource("a", etag="1")]
    key = ("acc1", "/cal/work/")  # a server without sync tokens: a full listing each time
    states.states[key] = replace(states.states[key], token="fake-etags-hash")
    published = raw(await run(calendars, states=states))
    assert [(type(e).__name__, e.ical_uid) for e in published] == [("RawEventRemoved", "b")]


async def test_only_the_chosen_calendars_are_synced():
    calendars = InMemoryCalendars(
        [resource("a")],
        infos=[
            CalendarInfo("/cal/work/", "Work", frozenset({"VEVENT"})),
            CalendarInfo("/cal/private/", "Private", frozenset({"VEVENT"})),
        ],
    )
    await run(calendars, chosen=("work",))
    assert calendars.changes_asked == [None]


def test_by_default_every_event_calendar_is_synced_and_task_lists_are_not():
    found = [
        CalendarInfo("https://dav/u/work/", "Work", frozenset({"VEVENT", "VTODO"})),
        CalendarInfo("https://dav/u/tasks/", "Tasks", frozenset({"VTODO"})),
        CalendarInfo("https://dav/u/other/", "Other"),
    ]
    assert [c.name for c in selected_calendars(found, ())] == ["Work", "Other"]
    assert [c.name for c in selected_calendars(found, ("/u/tasks",))] == ["Tasks"]


async def test_ten_thousand_events_are_synced_in_one_job():
    calendars = InMemoryCalendars([resource(f"e{n}") for n in range(10_000)])
    published = await run(calendars)
    assert len(raw(published)) == 10_000


def removals(published: RecordingPublisher) -> list[RawEventRemoved]:
    return [e for e in raw(published) if isinstance(e, RawEventRemoved)]


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)  # a Monday


async def test_a_private_recurring_meeting_is_one_drop_record_and_never_published():
    daily = "CLASS:PRIVATE\nRRULE:FREQ=DAILY;COUNT=200\n"
    calendars = InMemoryCalendars([resource("doctor", daily, start=stamp(T0))])
    published = await run(calendars, now=T0)
    assert raw(published) == []
    (dropped,) = published.on(TOPICS.dropped)
    assert isinstance(dropped, ItemDropped)
    assert dropped.natural_id == "doctor"
    assert all("Meeting doctor" not in e.model_dump_json() for _, _, e in published.sent)


async def test_a_recurring_meeting_made_private_removes_every_occurrence_as_private():
    weekly = "RRULE:FREQ=WEEKLY;COUNT=3\n"
    calendars = InMemoryCalendars([resource("s", weekly, start=stamp(T0))])
    states = InMemoryCalendarStates()
    assert len(raw(await run(calendars, states=states, now=T0))) == 3
    calendars.put(resource("s", "CLASS:PRIVATE\n" + weekly, start=stamp(T0)))
    published = await run(calendars, states=states, now=T0)
    assert [r.reason for r in removals(published)] == ["private"] * 3
    assert len(published.on(TOPICS.dropped)) == 1


async def test_when_the_window_moves_an_unchanged_series_gets_its_new_occurrences():
    calendars = InMemoryCalendars([resource("w", "RRULE:FREQ=WEEKLY\n", start=stamp(T0))])
    states = InMemoryCalendarStates()
    first = raw(await run(calendars, states=states, now=T0))
    later = T0 + timedelta(days=14)
    moved = raw(await run(calendars, states=states, now=later))
    assert calendars.fetched == ["/cal/w.ics"]
    assert all(isinstance(e, RawEvent) for e in moved)
    assert {e.item_id for e in moved}.isdisjoint(e.item_id for e in first)
    assert [e.starts_at for e in moved if isinstance(e, RawEvent)] == [
        T0 + timedelta(weeks=53),
        T0 + timedelta(weeks=54),
    ]
    assert raw(await run(calendars, states=states, now=later + timedelta(hours=1))) == []


async def test_a_one_off_meeting_is_not_fetched_again_when_the_window_moves():
    calendars, states = (
        InMemoryCalendars([resource("a", start=stamp(T0))]),
        InMemoryCalendarStates(),
    )
    await run(calendars, states=states, now=T0)
    assert raw(await run(calendars, states=states, now=T0 + timedelta(days=30))) == []
    assert calendars.fetched == []


async def test_a_full_resync_keeps_occurrences_that_fell_out_of_the_back_of_the_window():
    start = T0 - timedelta(days=5 * 365) + timedelta(days=1)
    weekly = "RRULE:FREQ=WEEKLY;COUNT=10\n"
    calendars = InMemoryCalendars([resource("old", weekly, start=stamp(start), etag="1")])
    states = InMemoryCalendarStates()
    assert len(raw(await run(calendars, states=states, now=T0))) == 10
    calendars.put(resource("old", weekly + "LOCATION:Room 2\n", start=stamp(start), etag="2"))
    key = ("acc1", "/cal/work/")
    states.states[key] = replace(states.states[key], token="expired")
    later = await run(calendars, states=states, now=T0 + timedelta(days=30))
    assert removals(later) == []
    assert len(raw(later)) == 5  # five are now older than the window: kept, not sent
    calendars.delete("/cal/old.ics")
    gone = removals(await run(calendars, states=states, now=T0 + timedelta(days=30)))
    assert len(gone) == 10  # a deleted series takes its history with it


async def test_a_calendar_deleted_on_the_server_takes_its_meetings_off_the_timeline():
    calendars, states = InMemoryCalendars([resource("a"), resource("b")]), InMemoryCalendarStates()
    first = {e.item_id for e in raw(await run(calendars, states=states))}
    calendars.infos = []
    gone = removals(await run(calendars, states=states))
    assert {r.item_id for r in gone} == first
    assert {r.reason for r in gone} == {"deleted"}
    assert states.states == {}
    assert removals(await run(calendars, states=states)) == []


async def test_a_deselected_calendar_takes_its_meetings_off_the_timeline():
    calendars, states = InMemoryCalendars([resource("a")]), InMemoryCalendarStates()
    await run(calendars, states=states, chosen=("work",))
    gone = removals(await run(calendars, states=states, chosen=("holidays",)))
    assert [r.ical_uid for r in gone] == ["a"]


def test_only_occurrences_starting_before_the_window_fell_out_of_it():
    start = datetime(2021, 4, 2, tzinfo=UTC)
    assert fell_out_of_window(("s", "20210401T090000Z"), start)
    assert fell_out_of_window(("s", "20210401"), start)
    assert not fell_out_of_window(("s", "20210402T090000Z"), start)
    assert not fell_out_of_window(("one-off", None), start)
    assert not fell_out_of_window(("s", "not-a-date"), start)


def test_a_broken_edit_of_an_object_removes_nothing():
    before = [("s", "20240601T090000Z"), ("s", "20240608T090000Z")]
    plan = plan_object([Unusable("s", "unreadable recurrence")], before, T0 - timedelta(days=900))
    assert (plan.remove, plan.items) == ((), tuple(before))


async def test_a_state_from_before_series_were_tracked_finds_its_series_once():
    calendars = InMemoryCalendars(
        [resource("w", "RRULE:FREQ=WEEKLY\n", start=stamp(T0)), resource("a", start=stamp(T0))]
    )
    states = InMemoryCalendarStates()
    await run(calendars, states=states, now=T0)
    key = ("acc1", "/cal/work/")
    states.states[key] = replace(states.states[key], series=(), expanded_until=None)
    assert raw(await run(calendars, states=states, now=T0)) == []
    assert sorted(calendars.fetched) == ["/cal/a.ics", "/cal/w.ics"]
    assert states.states[key].series == ("/cal/w.ics",)
