"""From iCalendar text to decisions: publish a RawEvent, drop a private event, remove a
cancelled one, leave one outside the window alone, or skip.

Choices, for a newcomer:
- Floating times (no zone, no ``Z``) and times in a zone nobody can resolve are read as
  UTC: the server gives no better clue, and a wrong hour beats a lost meeting.
- A timed event with neither DTEND nor DURATION lasts one hour, an all-day one one day.
- Recurring series (RRULE, RDATE, EXDATE, RECURRENCE-ID overrides, time zones) are
  expanded into their occurrences inside the sync window by ``recurring-ical-events``;
  each occurrence is an item of its own, keyed by UID and its RECURRENCE-ID in UTC, and
  an overridden occurrence replaces the generated one. A one-off event has no
  recurrence id, so it is the same item whichever calendar it is on.
- A cancelled event or occurrence (STATUS:CANCELLED) is a ``Cancel``: it leaves the
  timeline (a cancelled meeting never happened with anyone; showing it would inflate
  the relationship history the timeline is read for).
- A private event or series (CLASS:PRIVATE or CONFIDENTIAL) is one ``Drop`` without
  content, whatever its number of occurrences.
- A meeting with no occurrence in the window is ``Outside``: nothing is published and
  nothing it published before is removed (history older than the window stays).
- An event without DTSTART, or a series whose rule cannot be read, cannot be placed on a
  timeline: it is ``Unusable`` with its reason; the caller logs and skips it rather than
  failing the whole calendar, and other series of the same object are still expanded.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

import icalendar

from crm_schemas.base import Address
from crm_schemas.calendar import Attendee, RawEvent
from crm_schemas.ids import event_item_id, normalize_email
from crm_schemas.outcomes import DropReason, ItemDropped
from fetcher.domain.addresses import is_valid_address
from fetcher.domain.model import ItemKey
from fetcher.domain.recurrence import (
    as_utc,
    end_of,
    expand,
    in_window,
    is_recurring,
    too_frequent,
    with_length,
)

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
    """A meeting deliberately not synced; carries no content.

    One per private one-off event or private series: ``keys`` are the occurrences it
    covers, so that one made private after being synced is removed from the timeline.
    """

    dropped: ItemDropped
    keys: tuple[ItemKey, ...] = ()


@dataclass(frozen=True, slots=True)
class Unusable:
    """Calendar data that cannot become a meeting, with the reason, for the log."""

    uid: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Cancel:
    """A cancelled meeting occurrence: it leaves the timeline; carries no content."""

    item_id: str
    uid: str
    recurrence_id: str | None


@dataclass(frozen=True, slots=True)
class Outside:
    """A meeting with no occurrence inside the sync window: nothing to publish, and
    nothing to remove (what it published earlier stays: history is kept)."""

    uid: str
    recurring: bool


EventDecision = Publish | Drop | Cancel | Unusable | Outside
DEFAULT_WINDOW = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2040, 1, 1, tzinfo=UTC))


def is_private_event(component: Any) -> bool:
    """Whether its owner marked the event private or confidential."""
    return str(component.get("CLASS", "PUBLIC")).strip().upper() in PRIVATE_CLASSES


def recurrence_key(component: Any) -> str | None:
    """The RECURRENCE-ID of an overridden instance, as a stable string; None for a master."""
    prop = component.get("RECURRENCE-ID")
    if prop is None:
        return None
    value = prop.dt
    if isinstance(value, datetime):
        return as_utc(value).strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%d") if isinstance(value, date) else str(value)


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


def event_decision(
    component: Any, source: EventSource, fallback_uid: str, recurring: bool = True
) -> EventDecision:
    """What to do with one VEVENT (or one occurrence of a series): publish, drop, cancel, skip.

    ``recurring`` says whether the component belongs to a series; only then does its
    RECURRENCE-ID (set on every expanded occurrence) become part of its identity.
    """
    uid = _text(component, "UID") or fallback_uid
    recurrence_id = recurrence_key(component) if recurring else None
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
            ),
            ((uid, recurrence_id),),
        )
    status = _text(component, "STATUS")
    if status and status.upper() == "CANCELLED":
        return Cancel(item_id, uid, recurrence_id)
    dtstart = component.get("DTSTART")
    if dtstart is None or not isinstance(dtstart.dt, date):
        return Unusable(uid, "event has no DTSTART")
    start = dtstart.dt
    all_day = not isinstance(start, datetime)
    starts_at = as_utc(start)
    ends_at = max(as_utc(end_of(component, start)), starts_at)
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
            conference_url=conference_url(component),
        )
    )


_CONFERENCE_HOSTS = ("zoom.us/", "meet.google.com/", "teams.microsoft.com/", "webex.com/")


def conference_url(component: Any) -> str | None:
    """The meeting's video-call link: CONFERENCE (RFC 7986), a vendor property, or a
    known conferencing address in URL, LOCATION or DESCRIPTION."""
    for name in ("CONFERENCE", "X-GOOGLE-CONFERENCE", "X-MICROSOFT-SKYPETEAMSMEETINGURL"):
        found = _text(component, name)
        if found:
            return found
    for name in ("URL", "LOCATION", "DESCRIPTION"):
        for word in (_text(component, name) or "").split():
            link = word.strip("<>()[],;\"'")
            if link.startswith("https://") and any(h in link for h in _CONFERENCE_HOSTS):
                return link
    return None


def _series(calendar: Any, fallback_uid: str) -> Iterator[tuple[str, list[Any]]]:
    """The VEVENTs of a calendar grouped by UID: one series (master plus overrides) each."""
    groups: dict[str, list[Any]] = {}
    for component in calendar.walk("VEVENT"):
        groups.setdefault(_text(component, "UID") or fallback_uid, []).append(component)
    yield from groups.items()


def _series_decisions(
    calendar: Any,
    uid: str,
    components: list[Any],
    context: tuple[EventSource, tuple[datetime, datetime]],
) -> list[EventDecision]:
    source, window = context
    usable = [c for c in components if c.get("DTSTART") is not None]
    decisions: list[EventDecision] = [
        Unusable(uid, "event has no DTSTART") for _ in range(len(components) - len(usable))
    ]
    if not usable:
        return decisions
    if not is_recurring(usable):
        return decisions + [
            _one_off(c, source, uid) if in_window(c, window) else Outside(uid, recurring=False)
            for c in usable
        ]
    try:
        if any(too_frequent(c) for c in usable):
            return [*decisions, Unusable(uid, "unreadable recurrence: more often than hourly")]
        occurrences = list(expand(calendar, [with_length(c) for c in usable], window))
    except Exception as error:  # any broken series is skipped, with its reason
        return [*decisions, Unusable(uid, f"unreadable recurrence: {error}")]
    if not occurrences:
        return [*decisions, Outside(uid, recurring=True)]
    zone = _timezone(usable[0])
    for occurrence in occurrences:
        try:
            decision = event_decision(occurrence, source, uid, recurring=True)
        except (ValueError, TypeError, AttributeError, OverflowError) as error:
            decision = Unusable(uid, f"unreadable event: {error}")
        if isinstance(decision, Publish) and not decision.event.all_day and zone:
            decision = Publish(decision.event.model_copy(update={"timezone": zone}))
        decisions.append(decision)
    return _one_drop_per_series(decisions)


def _one_drop_per_series(decisions: list[EventDecision]) -> list[EventDecision]:
    """The private occurrences of a series become one drop record, under the series' id
    (no recurrence id), covering every occurrence: a private weekly meeting is one
    private event, not hundreds."""
    drops = [d for d in decisions if isinstance(d, Drop)]
    if len(drops) < 2:
        return decisions
    first = drops[0].dropped
    series_id = event_item_id(first.workspace_id, first.natural_id, None)
    one = Drop(
        first.model_copy(update={"item_id": series_id}),
        tuple(key for d in drops for key in d.keys),
    )
    return [one, *(d for d in decisions if not isinstance(d, Drop))]


def _one_off(component: Any, source: EventSource, uid: str) -> EventDecision:
    try:
        return event_decision(component, source, uid, recurring=False)
    except (ValueError, TypeError, AttributeError, OverflowError) as error:
        return Unusable(uid, f"unreadable event: {error}")


def calendar_decisions(
    ical: str,
    source: EventSource,
    fallback_uid: str,
    window: tuple[datetime, datetime] = DEFAULT_WINDOW,
) -> list[EventDecision]:
    """A decision for each occurrence in ``window`` of each VEVENT series of one iCalendar
    object; never raises on bad data."""
    try:
        calendar = icalendar.Calendar.from_ical(ical)
    except (ValueError, IndexError, KeyError, TypeError) as error:
        return [Unusable(None, f"unreadable iCalendar data: {error}")]
    decisions: list[EventDecision] = []
    for uid, components in _series(calendar, fallback_uid):
        decisions.extend(_series_decisions(calendar, uid, components, (source, window)))
    return decisions
