"""Which calendars of an account are synced, and what an object's new version removes."""

from collections.abc import Iterable

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
