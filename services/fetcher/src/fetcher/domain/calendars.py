"""Which calendars of an account are synced, and what an object's new version publishes,
removes and leaves alone."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from fetcher.domain.ical import Cancel, Drop, EventDecision, Outside, Publish, Unusable
from fetcher.domain.model import CalendarInfo, ItemKey


def _path(url: str) -> str:
    """A calendar URL without scheme and host, with one trailing slash."""
    rest = url.split("://", 1)[-1]
    path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return path.rstrip("/") + "/"


def selected_calendars(
    found: Iterable[CalendarInfo], wanted: tuple[str, ...]
) -> list[CalendarInfo]:
    """The calendars to sync.

    Without a choice, every calendar of the user's that can hold events (a task list or
    an address book cannot; a calendar that does not say what it holds is kept). With a
    choice, the calendars named by display name (case-insensitive) or by URL or path.
    """
    calendars = list(found)
    if not wanted:
        return [c for c in calendars if not c.components or "VEVENT" in c.components]
    names = {w.strip().lower() for w in wanted}
    paths = {_path(w) for w in wanted if "/" in w}
    return [c for c in calendars if c.name.strip().lower() in names or _path(c.url) in paths]


def removed_items(
    before: Iterable[ItemKey], now: Iterable[ItemKey], keep: Iterable[ItemKey] = ()
) -> list[ItemKey]:
    """The occurrences an object published before and no longer does, oldest order kept."""
    still = set(now) | set(keep)
    return [item for item in dict.fromkeys(before) if item not in still]


def fell_out_of_window(item: ItemKey, window_start: datetime) -> bool:
    """Whether an occurrence starts before the window (by its recurrence id, the original
    start in UTC): it left the window from the back, which is no reason to remove it."""
    rid = item[1]
    if rid is None:
        return False
    try:
        if "T" in rid:
            starts = datetime.strptime(rid, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        else:
            starts = datetime.strptime(rid, "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        return False
    return starts < window_start


RemovalReason = Literal["deleted", "cancelled", "private"]


@dataclass(frozen=True, slots=True)
class ObjectPlan:
    """What to do with one calendar object's new decisions.

    ``act``: the decisions to carry out (publish, drop, cancel, log). ``remove``: the
    occurrences it published before and no longer has, with the reason. ``items``: the
    occurrences to remember for it. ``recurring``: whether it holds a series, to expand
    again when the window moves.
    """

    act: tuple[EventDecision, ...]
    remove: tuple[tuple[ItemKey, RemovalReason], ...]
    items: tuple[ItemKey, ...]
    recurring: bool


def _key(decision: EventDecision) -> ItemKey | None:
    if isinstance(decision, Publish):
        return (decision.event.ical_uid, decision.event.recurrence_id)
    if isinstance(decision, Cancel):
        return (decision.uid, decision.recurrence_id)
    return None


def _recurring(decisions: Sequence[EventDecision]) -> bool:
    keys = [k for d in decisions for k in (d.keys if isinstance(d, Drop) else [_key(d)]) if k]
    return any(k[1] is not None for k in keys) or any(
        isinstance(d, Outside) and d.recurring for d in decisions
    )


def _why(item: ItemKey, private: set[ItemKey]) -> RemovalReason:
    return "private" if item in private else "deleted"


def plan_object(
    decisions: Sequence[EventDecision], before: Sequence[ItemKey], window_start: datetime
) -> ObjectPlan:
    """A changed object: publish what it has, remove what it lost.

    Kept rather than removed: occurrences that fell out of the back of the window, the
    one-off events of a UID now outside the window, and everything when part of the
    object cannot be read (a broken edit removes nothing). A lost occurrence the object
    now marks private is removed with the reason ``private``.
    """
    now = [k for d in decisions if isinstance(d, Publish) and (k := _key(d))]
    private = {k for d in decisions if isinstance(d, Drop) for k in d.keys}
    cancelled = {k for d in decisions if isinstance(d, Cancel) and (k := _key(d))}
    outside = {d.uid for d in decisions if isinstance(d, Outside)}
    broken = any(isinstance(d, Unusable) for d in decisions)
    keep = {
        item
        for item in before
        if broken
        or item in cancelled
        or fell_out_of_window(item, window_start)
        or (item[1] is None and item[0] in outside)
    }
    remove = tuple((item, _why(item, private)) for item in removed_items(before, now, keep))
    items = tuple(dict.fromkeys([*now, *(i for i in before if i in keep)]))
    return ObjectPlan(tuple(decisions), remove, items, _recurring(decisions))


def plan_refresh(decisions: Sequence[EventDecision], before: Sequence[ItemKey]) -> ObjectPlan:
    """An unchanged series expanded again because the window moved: only the occurrences
    it did not publish before are published; nothing is removed or dropped again."""
    known = set(before)
    new = [d for d in decisions if isinstance(d, Publish) and _key(d) not in known]
    keys = [k for d in new if (k := _key(d))]
    return ObjectPlan(tuple(new), (), tuple(dict.fromkeys([*before, *keys])), _recurring(decisions))
