"""The calendar job against real Radicale and Kafka."""

from datetime import UTC, datetime, timedelta

import caldav
import pytest

from crm_runtime.secrets import SecretBox
from crm_schemas.calendar import RawEvent
from crm_schemas.ids import copy_key
from crm_schemas.outcomes import DropReason, ItemDropped
from crm_schemas.sync import SyncState, SyncStatusChanged
from fetcher.settings import FetcherSettings
from fetcher.sync_calendar import CalendarPorts, run_calendar_job

from .conftest import CalDavUser, read_topic

pytestmark = pytest.mark.integration


def vevent(uid: str, lines: str) -> str:
    return (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//crm-tests//EN\nBEGIN:VEVENT\n"
        f"UID:{uid}\nDTSTAMP:20240101T000000Z\n{lines.strip()}\nEND:VEVENT\nEND:VCALENDAR\n"
    )


def put_events(user: CalDavUser) -> None:
    """A public external meeting, a private one and an all-day one, next week."""
    day = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y%m%d")
    client = caldav.DAVClient(url=user.url, username=user.username, password=user.password)
    with client:
        calendar = client.principal().make_calendar(name="Work")
        calendar.save_event(
            vevent(
                "public-1",
                f"DTSTART;TZID=Europe/Berlin:{day}T100000\nDTEND;TZID=Europe/Berlin:{day}T110000\n"
                "SUMMARY:Pricing call\nORGANIZER;CN=Owner:mailto:owner@acme.test\n"
                "ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:bob@customer.io",
            )
        )
        calendar.save_event(
            vevent(
                "private-1",
                f"DTSTART:{day}T140000Z\nDTEND:{day}T150000Z\nCLASS:PRIVATE\n"
                "SUMMARY:Doctor\nDESCRIPTION:Secret\nATTENDEE:mailto:doc@clinic.example",
            )
        )
        calendar.save_event(vevent("allday-1", f"DTSTART;VALUE=DATE:{day}\nSUMMARY:Trade fair"))


async def test_public_events_are_published_and_the_private_one_is_dropped_without_content(
    settings: FetcherSettings, calendar_ports: CalendarPorts, caldav_user: CalDavUser
):
    put_events(caldav_user)

    result = await run_calendar_job(
        caldav_user.account(SecretBox(settings.secrets_key)), calendar_ports
    )

    assert (result.published, result.dropped, result.unusable) == (2, 1, 0)
    raw = await read_topic(settings.kafka_bootstrap, settings.topics.calendar_raw)
    events = {e.ical_uid: e for e in (RawEvent.model_validate_json(v) for _, v in raw)}
    assert set(events) == {"public-1", "allday-1"}
    public = events["public-1"]
    assert public.title == "Pricing call"
    assert public.timezone == "Europe/Berlin"
    assert public.ends_at - public.starts_at == timedelta(hours=1)
    assert [a.email for a in public.attendees] == ["bob@customer.io"]
    assert events["allday-1"].all_day
    assert all(key == copy_key(e.item_id, e.account_id) for key, e in _keyed(raw))

    dropped_records = await read_topic(settings.kafka_bootstrap, settings.topics.dropped)
    (dropped_raw,) = [value for _, value in dropped_records]
    dropped = ItemDropped.model_validate_json(dropped_raw)
    assert (dropped.reason, dropped.natural_id) == (DropReason.PRIVATE_EVENT, "private-1")
    for secret in (b"Doctor", b"Secret", b"doc@clinic.example"):
        assert secret not in dropped_raw

    (status,) = [
        SyncStatusChanged.model_validate_json(v)
        for _, v in await read_topic(settings.kafka_bootstrap, settings.topics.sync_status)
    ]
    assert status.state is SyncState.UP_TO_DATE


def _keyed(records: list[tuple[str, bytes]]) -> list[tuple[str, RawEvent]]:
    return [(key, RawEvent.model_validate_json(value)) for key, value in records]


async def test_a_wrong_calendar_password_is_a_failing_status(
    settings: FetcherSettings, calendar_ports: CalendarPorts, caldav_user: CalDavUser
):
    wrong = CalDavUser(caldav_user.url, caldav_user.username, "wrong")

    result = await run_calendar_job(wrong.account(SecretBox(settings.secrets_key)), calendar_ports)

    assert result.failed is not None
    (status,) = [
        SyncStatusChanged.model_validate_json(v)
        for _, v in await read_topic(settings.kafka_bootstrap, settings.topics.sync_status)
    ]
    assert status.state is SyncState.FAILING
    assert status.reason == "The CalDAV server refused the password"


async def test_a_series_that_cannot_become_meetings_is_an_unreadable_drop_not_a_silence(
    settings: FetcherSettings, calendar_ports: CalendarPorts, caldav_user: CalDavUser
):
    day = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y%m%d")
    client = caldav.DAVClient(
        url=caldav_user.url, username=caldav_user.username, password=caldav_user.password
    )
    with client:
        calendar = client.principal().make_calendar(name="Work")
        calendar.save_event(  # a rule no timeline can hold: every second, for ever
            vevent("every-second", f"DTSTART:{day}T100000Z\nRRULE:FREQ=SECONDLY\nSUMMARY:Tick")
        )
        calendar.save_event(
            vevent("fine", f"DTSTART:{day}T120000Z\nSUMMARY:Call\nATTENDEE:mailto:bob@customer.io")
        )

    result = await run_calendar_job(
        caldav_user.account(SecretBox(settings.secrets_key)), calendar_ports
    )

    assert (result.published, result.unusable) == (1, 1)
    (record,) = await read_topic(settings.kafka_bootstrap, settings.topics.dropped)
    dropped = ItemDropped.model_validate_json(record[1])
    assert (dropped.kind, dropped.natural_id) == ("event", "every-second")
    assert dropped.reason is DropReason.UNREADABLE
    assert b"Tick" not in record[1]
