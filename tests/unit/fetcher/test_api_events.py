"""Google Calendar and Graph events as decisions: publish, drop (private), gone."""

from crm_schemas.ids import event_item_id
from fetcher.domain.api_events import (
    Gone,
    google_event_decision,
    graph_event_decision,
    read_event,
)
from fetcher.domain.ical import Drop, EventSource, Publish, Unusable

SOURCE = EventSource("ws", "acc", "primary", provider="google")


def test_an_occurrence_of_a_google_series_is_keyed_by_its_original_start_in_utc():
    decision = google_event_decision(
        {
            "id": "abc_20240305T090000Z",
            "iCalUID": "abc@google.com",
            "recurringEventId": "abc",
            "summary": "Weekly",
            "start": {"dateTime": "2024-03-12T10:00:00+01:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2024-03-12T10:30:00+01:00"},
            "originalStartTime": {"dateTime": "2024-03-05T10:00:00+01:00"},
            "attendees": [{"email": "Jane@Customer.io", "responseStatus": "tentative"}],
            "hangoutLink": "https://meet.google.com/abc-defg-hij",
        },
        SOURCE,
    )
    assert isinstance(decision, Publish)
    event = decision.event
    assert event.recurrence_id == "20240305T090000Z"
    assert event.item_id == event_item_id("ws", "abc@google.com", "20240305T090000Z")
    assert event.starts_at.hour == 9
    assert event.timezone == "Europe/Berlin"
    assert event.attendees[0].email == "jane@customer.io"
    assert event.attendees[0].response == "TENTATIVE"
    assert event.conference_url == "https://meet.google.com/abc-defg-hij"


def test_an_all_day_google_event_is_all_day():
    decision = google_event_decision(
        {"id": "d", "start": {"date": "2024-03-05"}, "end": {"date": "2024-03-06"}}, SOURCE
    )
    assert isinstance(decision, Publish)
    assert decision.event.all_day


def test_private_and_confidential_events_are_dropped_without_content():
    for visibility in ("private", "confidential"):
        resource = {
            "id": "p",
            "visibility": visibility,
            "summary": "Doctor",
            "start": {"date": "2024-03-05"},
        }
        decision = google_event_decision(resource, SOURCE)
        assert isinstance(decision, Drop)
        assert "Doctor" not in decision.dropped.model_dump_json()
    graph = {
        "id": "g",
        "sensitivity": "private",
        "subject": "Doctor",
        "start": {"dateTime": "2024-03-05T10:00:00.0000000", "timeZone": "UTC"},
    }
    assert isinstance(graph_event_decision(graph, SOURCE), Drop)


def test_cancelled_and_removed_events_are_gone_by_provider_id():
    assert google_event_decision({"id": "x", "status": "cancelled"}, SOURCE) == Gone(
        "x", "cancelled"
    )
    assert graph_event_decision({"id": "y", "@removed": {"reason": "deleted"}}, SOURCE) == Gone(
        "y", "deleted"
    )
    assert graph_event_decision({"id": "z", "isCancelled": True}, SOURCE) == Gone("z", "cancelled")


def test_a_graph_occurrence_is_keyed_by_its_original_start():
    decision = graph_event_decision(
        {
            "id": "occ",
            "iCalUId": "040000008200E0",
            "type": "occurrence",
            "originalStart": "2024-03-05T09:00:00Z",
            "subject": "Weekly",
            "start": {"dateTime": "2024-03-05T09:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2024-03-05T09:30:00.0000000", "timeZone": "UTC"},
            "onlineMeeting": {"joinUrl": "https://teams.microsoft.com/l/meetup-join/x"},
        },
        SOURCE,
    )
    assert isinstance(decision, Publish)
    assert decision.event.recurrence_id == "20240305T090000Z"
    assert decision.event.conference_url == "https://teams.microsoft.com/l/meetup-join/x"


def test_an_event_that_cannot_be_read_is_unusable_with_why_not_a_failure():
    broken = {"id": "ev9", "iCalUID": "u9@google.com", "start": {"dateTime": "not a time"}}
    decision = read_event(google_event_decision, broken, SOURCE)
    assert decision == Unusable("u9@google.com", "the event could not be read (ValueError)")
    no_time = {"id": "gr9", "iCalUId": "040000008200", "start": None}
    assert isinstance(read_event(graph_event_decision, no_time, SOURCE), Unusable)
