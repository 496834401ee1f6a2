"""One calendar job against in-memory ports."""

from crm_schemas.calendar import RawEvent
from crm_schemas.config import AccountConfigured, CalDavConnection
from crm_schemas.outcomes import ItemDropped
from crm_schemas.sync import SyncState, SyncStatusChanged
from fetcher.adapters.memory import InMemoryCalendars, PlainPasswords, RecordingPublisher
from fetcher.domain.model import CalendarResource
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


def resource(uid: str, extra: str = "") -> CalendarResource:
    ical = (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nBEGIN:VEVENT\n"
        f"UID:{uid}\nDTSTART:20240610T090000Z\nSUMMARY:Meeting {uid}\n{extra}"
        "END:VEVENT\nEND:VCALENDAR\n"
    )
    return CalendarResource(calendar="Work", href=f"/cal/{uid}.ics", ical=ical)


async def run(calendars: InMemoryCalendars, password: str = FAKE_PASSWORD) -> RecordingPublisher:
    published = RecordingPublisher()
    ports = CalendarPorts(SETTINGS, calendars, published, PlainPasswords())
    await run_calendar_job(account(password), ports)
    return published


async def test_public_events_are_published_and_private_ones_dropped():
    calendars = InMemoryCalendars(
        [resource("pub"), resource("priv", "CLASS:PRIVATE\n"), resource("broken", "")]
    )
    calendars.resources[2] = CalendarResource("Work", "/cal/b.ics", "garbage")
    published = await run(calendars)
    (event,) = published.on(TOPICS.calendar_raw)
    assert isinstance(event, RawEvent)
    assert event.ical_uid == "pub"
    (dropped,) = published.on(TOPICS.dropped)
    assert isinstance(dropped, ItemDropped)
    assert dropped.natural_id == "priv"
    assert "Meeting priv" not in dropped.model_dump_json()
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
    from datetime import UTC, datetime, timedelta

    now = datetime(2024, 1, 1, tzinfo=UTC)
    start, end = sync_window(SETTINGS, now)
    assert now - start == timedelta(days=5 * 365)
    assert end - now == timedelta(days=365)
