"""From iCalendar text to decisions: publish a RawEvent, drop a private event, or skip.

Choices, for a newcomer:
- Floating times (no zone, no ``Z``) and times in a zone nobody can resolve are read as
  UTC: the server gives no better clue, and a wrong hour beats a lost meeting.
- A timed event with neither DTEND nor DURATION lasts one hour, an all-day one one day.
- Recurrences are not expanded (yet): the master is one item at its first DTSTART, and
  each overridden instance (RECURRENCE-ID) is an item of its own.
- An event without DTSTART cannot be placed on a timeline: it is ``Unusable``, and the
  caller logs and skips it rather than failing the whole calendar.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import icalendar

from crm_schemas.base import Address
from crm_schemas.calendar import Attendee, RawEvent
from crm_schemas.ids import event_item_id, normalize_email
from crm_schemas.outcomes import DropReason, ItemDropped
from fetcher.domain.addresses import is_valid_address

PRIVATE_CLASSES = frozenset({"PRIVATE", "CONFIDENTIAL"})


@dataclass(frozen=True, slots=True)
class EventSource:
    """Where calendar data comes from."""

    workspace_id: str
    account_id: str
    calendar: str
    provider: Literal["caldav", "google", "graph"] = "caldav"


@dataclass(frozen=True, slots=True)
class Publish:
    """A meeting to publish as it is."""

    event: RawEvent


@dataclass(frozen=True, slots=True)
class Drop:
    """A meeting deliberately not synced; carries no content."""

    dropped: ItemDropped


@dataclass(frozen=True, slots=True)
class Unusable:
    """Calendar data that cannot become a meeting, with the reason, for the log."""

    uid: str | None
    reason: str


EventDecision = Publish | Drop | Unusable


def is_private_event(component: Any) -> bool:
    """Whether its owner marked the event private or confidential."""
    return str(component.get("CLASS", "PUBLIC")).strip().upper() in PRIVATE_CLASSES


def _as_utc(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=UTC)  # floating: read as UTC (see module doc)
        return value.astimezone(UTC)
    return datetime.combine(value, time(), tzinfo=UTC)


def recurrence_key(component: Any) -> str | None:
    """The RECURRENCE-ID of an overridden instance, as a stable string; None for a master."""
    prop = component.get("RECURRENCE-ID")
    if prop is None:
        return None
    value = prop.dt
    if isinstance(value, datetime):
        return _as_utc(value).strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%d") if isinstance(value, date) else str(value)


def _end(component: Any, start: date | datetime) -> date | datetime:
    end = component.get("DTEND")
    if end is not None and isinstance(end.dt, date):
        return end.dt
    duration = component.get("DURATION")
    if duration is not None and isinstance(duration.dt, timedelta):
        return start + duration.dt
    if isinstance(start, datetime):
        return start + timedelta(hours=1)
    return start + timedelta(days=1)


def _address(prop: Any) -> tuple[str, str | None] | None:
    raw = str(prop).strip()
    if raw.lower().startswith("mailto:"):
        raw = raw[len("mailto:") :]
    email = normalize_email(raw)
    if not is_valid_address(email):
        return None
    name = str(prop.params.get("CN", "")).strip().strip('"') if hasattr(prop, "params") else ""
    return email, name or None


def _organizer(component: Any) -> Address | None:
    prop = component.get("ORGANIZER")
    found = _address(prop) if prop is not None else None
    return Address(email=found[0], name=found[1]) if found else None


def _attendees(component: Any) -> tuple[Attendee, ...]:
    props = component.get("ATTENDEE", [])
    if not isinstance(props, list):
        props = [props]
    attendees: dict[str, Attendee] = {}
    for prop in props:
        found = _address(prop)
        if found is None or found[0] in attendees:
            continue
        status = str(prop.params.get("PARTSTAT", "")).upper() or None
        attendees[found[0]] = Attendee(email=found[0], name=found[1], response=status)
    return tuple(attendees.values())


def _text(component: Any, name: str) -> str | None:
    value = component.get(name)
    if isinstance(value, list):  # a property given twice: the first one counts
        value = value[0] if value else None
    text = str(value).strip() if value is not None else ""
    return text or None


def _timezone(component: Any) -> str | None:
    prop = component.get("DTSTART")
    tzid = prop.params.get("TZID") if prop is not None else None
    return str(tzid) if tzid else None


def event_decision(component: Any, source: EventSource, fallback_uid: str) -> EventDecision:
    """What to do with one VEVENT: publish it, drop it as private, or skip it."""
    uid = _text(component, "UID") or fallback_uid
    recurrence_id = recurrence_key(component)
    item_id = event_item_id(source.workspace_id, uid, recurrence_id)
    if is_private_event(component):
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
    dtstart = component.get("DTSTART")
    if dtstart is None or not isinstance(dtstart.dt, date):
        return Unusable(uid, "event has no DTSTART")
    start = dtstart.dt
    all_day = not isinstance(start, datetime)
    starts_at = _as_utc(start)
    ends_at = max(_as_utc(_end(component, start)), starts_at)
    status = _text(component, "STATUS")
    return Publish(
        RawEvent(
            item_id=item_id,
            workspace_id=source.workspace_id,
            account_id=source.account_id,
            provider=source.provider,
            calendar=source.calendar,
            ical_uid=uid,
            recurrence_id=recurrence_id,
            title=_text(component, "SUMMARY"),
            description=_text(component, "DESCRIPTION"),
            location=_text(component, "LOCATION"),
            starts_at=starts_at,
            ends_at=ends_at,
            all_day=all_day,
            timezone=None if all_day else _timezone(component),
            status=status.upper() if status else None,
            organizer=_organizer(component),
            attendees=_attendees(component),
        )
    )


def calendar_decisions(ical: str, source: EventSource, fallback_uid: str) -> list[EventDecision]:
    """A decision for each VEVENT of one iCalendar object; never raises on bad data."""
    try:
        calendar = icalendar.Calendar.from_ical(ical)
    except (ValueError, IndexError, KeyError, TypeError) as error:
        return [Unusable(None, f"unreadable iCalendar data: {error}")]
    decisions: list[EventDecision] = []
    for component in calendar.walk("VEVENT"):
        try:
            decisions.append(event_decision(component, source, fallback_uid))
        except (ValueError, TypeError, AttributeError, OverflowError) as error:
            decisions.append(Unusable(_text(component, "UID"), f"unreadable event: {error}"))
    return decisions
