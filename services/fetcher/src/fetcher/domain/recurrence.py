"""Times and recurrence: UTC conversion, default lengths, and the expansion of a series
into its occurrences inside the sync window (``recurring-ical-events``)."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import icalendar
import recurring_ical_events  # type: ignore[import-untyped]

MAX_OCCURRENCES = 5000  # per series in the window: a runaway rule (FREQ=MINUTELY) is cut


def as_utc(value: date | datetime) -> datetime:
    """A start or end in UTC: a date is its midnight, a floating time is read as UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=UTC)  # floating: read as UTC (see fetcher.domain.ical)
        return value.astimezone(UTC)
    return datetime.combine(value, time(), tzinfo=UTC)


def end_of(component: Any, start: date | datetime) -> date | datetime:
    """DTEND, or DTSTART plus DURATION; without either an hour, or a day when all-day."""
    end = component.get("DTEND")
    if end is not None and isinstance(end.dt, date):
        return end.dt
    duration = component.get("DURATION")
    if duration is not None and isinstance(duration.dt, timedelta):
        return start + duration.dt
    if isinstance(start, datetime):
        return start + timedelta(hours=1)
    return start + timedelta(days=1)


def is_recurring(components: list[Any]) -> bool:
    """Whether a series' components make it recur (a rule, dates, or an override)."""
    return any(
        c.get(p) is not None for c in components for p in ("RRULE", "RDATE", "RECURRENCE-ID")
    )


def expand(
    calendar: Any, components: list[Any], window: tuple[datetime, datetime]
) -> Iterator[Any]:
    """Every occurrence of one series in the window, overrides in place of generated ones."""
    single = icalendar.Calendar()
    for timezone in calendar.walk("VTIMEZONE"):
        single.add_component(timezone)
    for component in components:
        single.add_component(component)
    if calendar.get("X-WR-TIMEZONE") is not None:
        single.add("X-WR-TIMEZONE", calendar.get("X-WR-TIMEZONE"))
    query, count, start = recurring_ical_events.of(single), 0, window[0]
    step = timedelta(days=31 if any(_hourly(c) for c in components) else 366)
    while start < window[1]:  # a slice at a time, up to the cap
        stop = min(start + step, window[1])
        for occurrence in query.between(start, stop):
            begins = as_utc(occurrence["DTSTART"].dt)
            # each occurrence once: in the slice it starts in (or the first, if earlier)
            if begins < stop and (begins >= start or start == window[0]):
                count += 1
                yield occurrence
            if count >= MAX_OCCURRENCES:
                return
        start = stop


def _frequencies(component: Any) -> set[str]:
    rules = component.get("RRULE")
    rules = rules if isinstance(rules, list) else [rules] if rules is not None else []
    return {str(f).upper() for r in rules for f in r.get("FREQ", [])}


def too_frequent(component: Any) -> bool:
    """A rule repeating by the second or minute is no meeting, and would never end."""
    return bool(_frequencies(component) & {"SECONDLY", "MINUTELY"})


def _hourly(component: Any) -> bool:
    """Hourly series are expanded a month at a time (the cap is checked per slice);
    slower ones a year at a time, since every slice costs a pass over the rules."""
    return "HOURLY" in _frequencies(component)


def in_window(component: Any, window: tuple[datetime, datetime]) -> bool:
    """Whether a one-off event overlaps the window (an unreadable start is let through)."""
    try:
        start = component["DTSTART"].dt
        starts_at = as_utc(start)
        ends_at = max(as_utc(end_of(component, start)), starts_at)
    except (ValueError, TypeError, AttributeError, OverflowError):
        return True
    return starts_at < window[1] and ends_at >= window[0]


def with_length(component: Any) -> Any:
    """A series master without DTEND or DURATION gets the default length made explicit,
    so its occurrences last as long as a one-off event would."""
    if component.get("DTEND") is None and component.get("DURATION") is None:
        start = component["DTSTART"].dt
        component.add("DURATION", end_of(component, start) - start)
    return component
