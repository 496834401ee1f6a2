"""From iCalendar data to decisions: publish, drop as private, or skip."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest

from crm_schemas.ids import event_item_id
from crm_schemas.outcomes import DropReason
from fetcher.domain.ical import (
    Cancel,
    Drop,
    EventSource,
    Outside,
    Publish,
    Unusable,
    calendar_decisions,
)
from fetcher.domain.recurrence import MAX_OCCURRENCES

SOURCE = EventSource(workspace_id="w1", account_id="a1", calendar="Work")


def wrap(*events: str, extra: str = "") -> str:
    body = "".join(f"BEGIN:VEVENT\n{e.strip()}\nEND:VEVENT\n" for e in events)
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n{extra}{body}END:VCALENDAR\n"


def decide(*events: str, extra: str = ""):
    return calendar_decisions(wrap(*events, extra=extra), SOURCE, fallback_uid="/cal/x.ics")


def published(*events: str, extra: str = ""):
    (decision,) = decide(*events, extra=extra)
    assert isinstance(decision, Publish), decision
    return decision.event


MEETING = """
UID:meet-1@example.com
DTSTART:20240610T090000Z
DTEND:20240610T100000Z
SUMMARY:Contract review
DESCRIPTION:Bring the draft
LOCATION:Room 4
STATUS:confirmed
ORGANIZER;CN=Ann Owner:mailto:Ann@Acme.test
ATTENDEE;CN=Bob Buyer;PARTSTAT=ACCEPTED:mailto:bob@customer.io
ATTENDEE;PARTSTAT=TENTATIVE:MAILTO:Carl@Customer.io
ATTENDEE;CN=Room:urn:uuid:0000
"""


def test_a_public_meeting_is_published_with_its_content():
    event = published(MEETING)
    assert event.item_id == event_item_id("w1", "meet-1@example.com", None)
    assert (event.title, event.description, event.location) == (
        "Contract review",
        "Bring the draft",
        "Room 4",
    )
    assert event.starts_at == datetime(2024, 6, 10, 9, tzinfo=UTC)
    assert event.ends_at == datetime(2024, 6, 10, 10, tzinfo=UTC)
    assert event.status == "CONFIRMED"
    assert event.calendar == "Work"
    assert event.provider == "caldav"


def test_organizer_and_attendees_lose_mailto_and_keep_names_and_responses():
    event = published(MEETING)
    assert event.organizer is not None
    assert (event.organizer.email, event.organizer.name) == ("ann@acme.test", "Ann Owner")
    assert [(a.email, a.name, a.response) for a in event.attendees] == [
        ("bob@customer.io", "Bob Buyer", "ACCEPTED"),
        ("carl@customer.io", None, "TENTATIVE"),
    ]


@pytest.mark.parametrize("klass", ["PRIVATE", "CONFIDENTIAL", "private"])
def test_a_confidential_event_publishes_no_content(klass: str):
    (decision,) = decide(MEETING + f"CLASS:{klass}")
    assert isinstance(decision, Drop)
    dropped = decision.dropped
    assert dropped.reason is DropReason.PRIVATE_EVENT
    assert dropped.rule == "is_private_event"
    assert dropped.kind == "event"
    assert dropped.natural_id == "meet-1@example.com"
    assert dropped.item_id == event_item_id("w1", "meet-1@example.com", None)
    text = dropped.model_dump_json()
    for secret in ("Contract review", "Bring the draft", "Room 4", "bob@customer.io"):
        assert secret not in text


def test_a_class_public_event_is_published():
    assert published(MEETING + "CLASS:PUBLIC").title == "Contract review"


def test_an_all_day_event_starts_at_midnight_utc_and_keeps_its_end_date():
    event = published("UID:a\nDTSTART;VALUE=DATE:20240614\nDTEND;VALUE=DATE:20240616\nSUMMARY:Fair")
    assert event.all_day
    assert event.starts_at == datetime(2024, 6, 14, tzinfo=UTC)
    assert event.ends_at == datetime(2024, 6, 16, tzinfo=UTC)
    assert event.timezone is None


def test_an_all_day_event_without_end_lasts_one_day():
    event = published("UID:a\nDTSTART;VALUE=DATE:20240614")
    assert event.ends_at == datetime(2024, 6, 15, tzinfo=UTC)


def test_a_tzid_time_is_converted_to_utc_and_its_zone_kept():
    event = published(
        "UID:a\nDTSTART;TZID=Europe/Berlin:20240610T090000\nDTEND;TZID=Europe/Berlin:20240610T0930"
        "00"
    )
    assert event.starts_at == datetime(2024, 6, 10, 7, tzinfo=UTC)
    assert event.ends_at == datetime(2024, 6, 10, 7, 30, tzinfo=UTC)
    assert event.timezone == "Europe/Berlin"
    assert not event.all_day


def test_a_winter_tzid_time_uses_the_winter_offset():
    event = published("UID:a\nDTSTART;TZID=America/New_York:20240115T090000")
    assert event.starts_at == datetime(2024, 1, 15, 14, tzinfo=UTC)


def test_a_custom_vtimezone_is_honoured():
    zone = (
        "BEGIN:VTIMEZONE\nTZID:Office Time\nBEGIN:STANDARD\nDTSTART:19700101T000000\n"
        "TZOFFSETFROM:+0300\nTZOFFSETTO:+0300\nEND:STANDARD\nEND:VTIMEZONE\n"
    )
    event = published("UID:a\nDTSTART;TZID=Office Time:20240610T120000", extra=zone)
    assert event.starts_at == datetime(2024, 6, 10, 9, tzinfo=UTC)
    assert event.timezone == "Office Time"


def test_a_floating_time_is_read_as_utc():
    event = published("UID:a\nDTSTART:20240610T090000")
    assert event.starts_at == datetime(2024, 6, 10, 9, tzinfo=UTC)
    assert event.timezone is None


def test_an_unknown_tzid_is_read_as_utc_and_kept():
    event = published("UID:a\nDTSTART;TZID=Mars/Olympus:20240610T090000")
    assert event.starts_at == datetime(2024, 6, 10, 9, tzinfo=UTC)
    assert event.timezone == "Mars/Olympus"


def test_duration_gives_the_end():
    event = published("UID:a\nDTSTART:20240610T090000Z\nDURATION:PT45M")
    assert event.ends_at == datetime(2024, 6, 10, 9, 45, tzinfo=UTC)


def test_a_timed_event_without_end_or_duration_lasts_one_hour():
    event = published("UID:a\nDTSTART:20240610T090000Z")
    assert event.ends_at == datetime(2024, 6, 10, 10, tzinfo=UTC)


def test_an_end_before_the_start_is_clamped_to_the_start():
    event = published("UID:a\nDTSTART:20240610T090000Z\nDTEND:20240610T080000Z")
    assert event.ends_at == event.starts_at


def test_a_recurring_series_is_expanded_and_an_override_replaces_its_occurrence():
    decisions = decide(
        "UID:weekly\nDTSTART;TZID=Europe/Berlin:20240603T090000\nRRULE:FREQ=WEEKLY;COUNT=4\n"
        "EXDATE;TZID=Europe/Berlin:20240617T090000\nSUMMARY:Sync",
        "UID:weekly\nRECURRENCE-ID;TZID=Europe/Berlin:20240610T090000\n"
        "DTSTART;TZID=Europe/Berlin:20240610T140000\nSUMMARY:Moved",
    )
    events = [d.event for d in decisions if isinstance(d, Publish)]
    assert [(e.recurrence_id, e.starts_at.hour, e.title) for e in events] == [
        ("20240603T070000Z", 7, "Sync"),
        ("20240610T070000Z", 12, "Moved"),
        ("20240624T070000Z", 7, "Sync"),
    ]
    assert all(e.timezone == "Europe/Berlin" for e in events)
    assert all(e.ends_at - e.starts_at == timedelta(hours=1) for e in events)
    assert events[1].item_id == event_item_id("w1", "weekly", "20240610T070000Z")


def test_a_series_is_expanded_only_inside_the_window():
    window = (datetime(2024, 6, 5, tzinfo=UTC), datetime(2024, 6, 8, tzinfo=UTC))
    text = wrap("UID:d\nDTSTART:20240601T090000Z\nRRULE:FREQ=DAILY")
    decisions = calendar_decisions(text, SOURCE, "/x.ics", window)
    assert [d.event.starts_at.day for d in decisions if isinstance(d, Publish)] == [5, 6, 7]


def test_a_one_off_event_outside_the_window_is_left_out():
    window = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    decisions = calendar_decisions(wrap(MEETING), SOURCE, "/x.ics", window)
    assert decisions == [Outside("meet-1@example.com", recurring=False)]


def test_a_series_with_no_occurrence_in_the_window_is_outside_and_recurring():
    window = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    text = wrap("UID:later\nDTSTART:20270101T090000Z\nRRULE:FREQ=WEEKLY")
    assert calendar_decisions(text, SOURCE, "/x.ics", window) == [Outside("later", True)]


def test_a_private_series_is_one_drop_covering_every_occurrence():
    window = (datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC))
    text = wrap("UID:p\nCLASS:PRIVATE\nSUMMARY:Doctor\nDTSTART:20240601T090000Z\nRRULE:FREQ=DAILY")
    (drop,) = calendar_decisions(text, SOURCE, "/x.ics", window)
    assert isinstance(drop, Drop)
    assert drop.dropped.item_id == event_item_id(SOURCE.workspace_id, "p", None)
    assert len(drop.keys) == 30
    assert drop.keys[0] == ("p", "20240601T090000Z")
    assert "Doctor" not in drop.dropped.model_dump_json()


def test_an_hourly_rule_is_cut_at_the_cap():
    window = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    text = wrap("UID:h\nDTSTART:20240101T000000Z\nRRULE:FREQ=HOURLY")
    assert len(calendar_decisions(text, SOURCE, "/x.ics", window)) == MAX_OCCURRENCES


def test_a_rule_by_the_minute_is_unusable():
    (decision,) = decide("UID:m\nDTSTART:20240101T000000Z\nRRULE:FREQ=MINUTELY")
    assert isinstance(decision, Unusable)


def test_a_broken_rrule_is_unusable_and_other_series_still_publish():
    decisions = decide("UID:bad\nDTSTART:20240601T090000Z\nRRULE:FREQ=SOMETIMES", MEETING)
    assert isinstance(decisions[0], Unusable)
    assert "recurrence" in decisions[0].reason
    assert isinstance(decisions[1], Publish)


def test_a_cancelled_meeting_is_a_cancel_without_content():
    (decision,) = decide(MEETING.replace("STATUS:confirmed", "STATUS:CANCELLED"))
    assert decision == Cancel(
        event_item_id("w1", "meet-1@example.com", None), "meet-1@example.com", None
    )


def test_a_cancelled_occurrence_cancels_that_occurrence_only():
    decisions = decide(
        "UID:s\nDTSTART:20240603T090000Z\nRRULE:FREQ=DAILY;COUNT=3",
        "UID:s\nRECURRENCE-ID:20240604T090000Z\nDTSTART:20240604T090000Z\nSTATUS:CANCELLED",
    )
    assert [type(d).__name__ for d in decisions] == ["Publish", "Cancel", "Publish"]


def test_the_conference_link_is_found_in_the_description():
    event = published(MEETING.replace("Bring the draft", "Join https://meet.google.com/abc-def"))
    assert event.conference_url == "https://meet.google.com/abc-def"


def test_a_malformed_attendee_is_left_out_and_the_meeting_kept():
    event = published(MEETING + "\nATTENDEE;CN=Broken:mailto:not an address")
    assert [a.email for a in event.attendees] == ["bob@customer.io", "carl@customer.io"]


def test_a_recurrence_id_in_a_zone_is_keyed_in_utc():
    (moved,) = decide(
        "UID:w\nRECURRENCE-ID;TZID=Europe/Paris:20240610T110000\nDTSTART:20240610T110000Z"
    )
    assert isinstance(moved, Publish)
    assert moved.event.recurrence_id == "20240610T090000Z"


def test_a_private_override_of_a_public_series_is_dropped_alone():
    decisions = decide(
        "UID:s\nDTSTART:20240603T090000Z\nRRULE:FREQ=DAILY;COUNT=3",
        "UID:s\nRECURRENCE-ID:20240604T090000Z\nDTSTART:20240604T090000Z\nCLASS:PRIVATE",
    )
    assert [type(d).__name__ for d in decisions] == ["Publish", "Drop", "Publish"]
    private = decisions[1]
    assert isinstance(private, Drop)
    assert private.dropped.item_id == event_item_id("w1", "s", "20240604T090000Z")


def test_an_event_without_dtstart_is_unusable_not_fatal():
    (decision,) = decide("UID:nostart\nSUMMARY:Floating idea")
    assert decision == Unusable("nostart", "event has no DTSTART")


def test_an_event_without_uid_is_keyed_by_its_resource():
    event = published("DTSTART:20240610T090000Z")
    assert event.ical_uid == "/cal/x.ics"


def test_unreadable_data_is_one_unusable_decision():
    (decision,) = calendar_decisions("this is not iCalendar", SOURCE, "/x.ics")
    assert isinstance(decision, Unusable)


def test_todos_are_ignored():
    text = "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VTODO\nUID:t\nEND:VTODO\nEND:VCALENDAR\n"
    assert calendar_decisions(text, SOURCE, "/x.ics") == []


CALENDARS = Path(icalendar.__file__).parent / "tests" / "calendars"
needs_calendars = pytest.mark.skipif(
    not CALENDARS.is_dir(), reason="icalendar's test calendars are not in this wheel"
)


@needs_calendars
def test_a_real_world_custom_new_york_zone_is_converted():
    text = (CALENDARS / "america_new_york.ics").read_text()
    (decision,) = calendar_decisions(text, SOURCE, "/x.ics")
    assert isinstance(decision, Publish)
    assert decision.event.starts_at == datetime(2014, 8, 29, 12, tzinfo=UTC)
    assert decision.event.ends_at == datetime(2014, 8, 29, 14, tzinfo=UTC)
    assert decision.event.timezone == "custom_America/New_York"


@needs_calendars
def test_a_real_world_blackberry_invitation_is_an_all_day_meeting():
    text = (CALENDARS / "property_params.ics").read_text()
    event = next(d.event for d in calendar_decisions(text, SOURCE, "/x") if isinstance(d, Publish))
    assert event.all_day
    assert event.organizer is not None
    assert event.organizer.email == "rembrand@daxlab.com"
    assert [a.name for a in event.attendees][:2] == ["RembrandXS", "RembrandDX"]


@needs_calendars
def test_a_real_world_google_export_is_published():
    text = (CALENDARS / "alarm_google_acknowledged.ics").read_text()
    (decision,) = calendar_decisions(text, SOURCE, "/x.ics")
    assert isinstance(decision, Publish)
    assert decision.event.ical_uid == "79fs7pkqvht9m5igs0vjv1sfra@google.com"
    assert decision.event.starts_at == datetime(2024, 10, 4, 18, 15, tzinfo=UTC)


@needs_calendars
@pytest.mark.filterwarnings("ignore:.*globally unique TZID")
@pytest.mark.parametrize("path", sorted(CALENDARS.glob("*.ics")), ids=lambda p: p.name)
def test_no_real_world_calendar_makes_the_parser_raise(path: Path):
    text = path.read_text(encoding="utf-8", errors="replace")
    for decision in calendar_decisions(text, SOURCE, "/x.ics"):
        assert isinstance(decision, Publish | Drop | Cancel | Unusable | Outside)


def test_a_property_given_twice_uses_the_first():
    assert published("UID:a\nDTSTART:20240610T090000Z\nSUMMARY:One\nSUMMARY:Two").title == "One"
