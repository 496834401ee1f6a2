"""Google Calendar and Graph event resources as the decisions the calendar job carries out.

Both APIs expand recurring series themselves (Google ``singleEvents=true``, Graph
``calendarView``), so every resource is one occurrence. Its identity is the iCal UID plus,
for an occurrence of a series, its original start in UTC: the same key CalDAV uses, so
one meeting seen through two providers is one item.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_schemas.base import Address
from crm_schemas.calendar import Attendee, RawEvent
from crm_schemas.ids import event_item_id
from crm_schemas.outcomes import DropReason, ItemDropped
from fetcher.domain.ical import Drop, EventSource, Publish, Unusable

_GOOGLE_RESPONSES = {
    "accepted": "ACCEPTED",
    "declined": "DECLINED",
    "tentative": "TENTATIVE",
    "needsAction": "NEEDS-ACTION",
}
_GRAPH_RESPONSES = {
    "accepted": "ACCEPTED",
    "declined": "DECLINED",
    "tentativelyAccepted": "TENTATIVE",
    "notResponded": "NEEDS-ACTION",
    "none": "NEEDS-ACTION",
    "organizer": "ACCEPTED",
}


@dataclass(frozen=True, slots=True)
class Gone:
    """An event the provider says was deleted or cancelled; only its provider id is known."""

    provider_id: str
    reason: str  # "deleted" or "cancelled"


ApiEventDecision = Publish | Drop | Gone | Unusable
Decide = Callable[[Mapping[str, Any], EventSource], ApiEventDecision]


def read_event(
    decide: Decide, resource: Mapping[str, Any], source: EventSource
) -> ApiEventDecision:
    """``decide(resource, source)``; ``Unusable`` with what was wrong when the resource
    cannot be read (a missing start, a time that does not parse, an attendee without a
    real address), so one malformed event never stops its calendar."""
    try:
        return decide(resource, source)
    except Exception as error:  # any failure to read it is this event's, not the job's
        uid = resource.get("iCalUID") or resource.get("iCalUId") or resource.get("id")
        return Unusable(
            str(uid) if uid else None, f"the event could not be read ({type(error).__name__})"
        )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _google_time(value: Mapping[str, Any]) -> tuple[datetime, bool]:
    if "date" in value:
        return datetime.combine(date.fromisoformat(value["date"]), time(), tzinfo=UTC), True
    parsed = datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
    if parsed.tzinfo is None and value.get("timeZone"):
        parsed = parsed.replace(tzinfo=_zone(str(value["timeZone"])))
    return _utc(parsed), False


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _recurrence_key(start: datetime, all_day: bool) -> str:
    return start.strftime("%Y%m%d") if all_day else start.strftime("%Y%m%dT%H%M%SZ")


def _dropped(source: EventSource, item_id: str, uid: str) -> Drop:
    return Drop(
        ItemDropped(
            item_id=item_id,
            workspace_id=source.workspace_id,
            account_id=source.account_id,
            kind="event",
            natural_id=uid,
            reason=DropReason.PRIVATE_EVENT,
            rule="is_private_event",
        )
    )


def _address(email: object, name: object) -> Address | None:
    text = str(email or "").strip().lower()
    return Address(email=text, name=str(name) if name else None) if "@" in text else None


def google_event_decision(resource: Mapping[str, Any], source: EventSource) -> ApiEventDecision:
    """What to do with one Google Calendar event (an occurrence: ``singleEvents=true``)."""
    if resource.get("status") == "cancelled" or "start" not in resource:
        return Gone(str(resource["id"]), "cancelled")
    uid = str(resource.get("iCalUID") or resource["id"])
    starts_at, all_day = _google_time(resource["start"])
    ends_at, _ = _google_time(resource.get("end", resource["start"]))
    recurrence_id = None
    if resource.get("recurringEventId") and resource.get("originalStartTime"):
        original, original_all_day = _google_time(resource["originalStartTime"])
        recurrence_id = _recurrence_key(original, original_all_day)
    item_id = event_item_id(source.workspace_id, uid, recurrence_id)
    if resource.get("visibility") in ("private", "confidential"):
        return _dropped(source, item_id, uid)
    organizer = resource.get("organizer") or {}
    attendees = tuple(
        Attendee(
            email=str(a["email"]).lower(),
            name=a.get("displayName"),
            response=_GOOGLE_RESPONSES.get(str(a.get("responseStatus", ""))),
        )
        for a in resource.get("attendees", [])
        if "@" in str(a.get("email", "")) and not a.get("resource")
    )
    entry_points = (resource.get("conferenceData") or {}).get("entryPoints", [])
    video = [e.get("uri") for e in entry_points if e.get("entryPointType") == "video"]
    return Publish(
        RawEvent(
            item_id=item_id,
            workspace_id=source.workspace_id,
            account_id=source.account_id,
            provider="google",
            calendar=source.calendar,
            ical_uid=uid,
            recurrence_id=recurrence_id,
            title=resource.get("summary"),
            description=resource.get("description"),
            location=resource.get("location"),
            starts_at=starts_at,
            ends_at=max(ends_at, starts_at),
            all_day=all_day,
            timezone=None if all_day else resource["start"].get("timeZone"),
            status=str(resource.get("status", "confirmed")).upper(),
            organizer=_address(organizer.get("email"), organizer.get("displayName")),
            attendees=attendees,
            conference_url=resource.get("hangoutLink") or (video[0] if video else None),
        )
    )


def _graph_time(value: Mapping[str, Any] | None) -> datetime:
    if not value:
        raise ValueError("no time")
    text = str(value["dateTime"]).replace("Z", "")
    parsed = datetime.fromisoformat(text[:26] if "." in text else text)
    return _utc(parsed.replace(tzinfo=_zone(str(value.get("timeZone") or "UTC"))))


def graph_event_decision(resource: Mapping[str, Any], source: EventSource) -> ApiEventDecision:
    """What to do with one Graph calendarView event (one occurrence of a series or a
    single instance)."""
    if "@removed" in resource:
        return Gone(str(resource["id"]), "deleted")
    if resource.get("isCancelled"):
        return Gone(str(resource["id"]), "cancelled")
    uid = str(resource.get("iCalUId") or resource["id"])
    all_day = bool(resource.get("isAllDay"))
    starts_at = _graph_time(resource.get("start"))
    ends_at = _graph_time(resource.get("end") or resource.get("start"))
    recurrence_id = None
    if resource.get("type") in ("occurrence", "exception"):
        original = resource.get("originalStart")
        at = (
            _utc(datetime.fromisoformat(str(original).replace("Z", "+00:00")))
            if original
            else starts_at
        )
        recurrence_id = _recurrence_key(at, all_day)
    item_id = event_item_id(source.workspace_id, uid, recurrence_id)
    if resource.get("sensitivity") in ("private", "confidential"):
        return _dropped(source, item_id, uid)
    organizer = (resource.get("organizer") or {}).get("emailAddress") or {}
    attendees = tuple(
        Attendee(
            email=str(a["emailAddress"]["address"]).lower(),
            name=a["emailAddress"].get("name"),
            response=_GRAPH_RESPONSES.get(str((a.get("status") or {}).get("response", ""))),
        )
        for a in resource.get("attendees", [])
        if "@" in str((a.get("emailAddress") or {}).get("address", ""))
        and a.get("type") != "resource"
    )
    online = resource.get("onlineMeeting") or {}
    return Publish(
        RawEvent(
            item_id=item_id,
            workspace_id=source.workspace_id,
            account_id=source.account_id,
            provider="graph",
            calendar=source.calendar,
            ical_uid=uid,
            recurrence_id=recurrence_id,
            title=resource.get("subject"),
            description=resource.get("bodyPreview") or None,
            location=(resource.get("location") or {}).get("displayName") or None,
            starts_at=starts_at,
            ends_at=max(ends_at, starts_at),
            all_day=all_day,
            timezone=None if all_day else (resource.get("originalStartTimeZone") or None),
            status="TENTATIVE" if resource.get("showAs") == "tentative" else "CONFIRMED",
            organizer=_address(organizer.get("address"), organizer.get("name")),
            attendees=attendees,
            conference_url=online.get("joinUrl") or resource.get("onlineMeetingUrl"),
        )
    )
