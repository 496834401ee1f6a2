"""One calendar sync job: discovery, then what changed in each calendar since its token.

For each selected calendar, the job asks for the changes since the stored sync token
(everything on the first sync, after an expired token, or on a server without tokens),
expands each changed object into its occurrences in the window, publishes them, removes
the occurrences an object no longer has (or that were deleted with it), and only then
stores the new token. Ids depend on the workspace, UID and RECURRENCE-ID only, so a full
resync publishes the same items again and duplicates nothing downstream.
"""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from crm_schemas.calendar import RawEventRemoved
from crm_schemas.config import AccountConfigured
from crm_schemas.ids import event_item_id
from crm_schemas.sync import SyncKind
from crm_schemas.topics import Topics
from fetcher.domain.calendars import (
    RemovalReason,
    plan_object,
    plan_refresh,
    selected_calendars,
)
from fetcher.domain.ical import (
    Cancel,
    Drop,
    EventDecision,
    EventSource,
    Outside,
    Publish,
    Unusable,
    calendar_decisions,
)
from fetcher.domain.model import CalendarInfo, CalendarResource, CalendarState, ItemKey
from fetcher.domain.problems import SyncProblem
from fetcher.domain.unreadable import unreadable_event
from fetcher.ports import (
    CalendarReader,
    CalendarStateStore,
    Outgoing,
    PasswordReader,
    Publisher,
)
from fetcher.publishing import dropped_record, event_record, removal_record
from fetcher.settings import FetcherSettings
from fetcher.status import StatusReporter

log = logging.getLogger(__name__)
CHUNK = 100  # objects handled concurrently
REEXPAND_AFTER = timedelta(days=1)  # series are expanded again once a day as the window moves


@dataclass(frozen=True, slots=True)
class CalendarPorts:
    """What a calendar job talks to."""

    settings: FetcherSettings
    read_calendars: CalendarReader
    publish: Publisher
    password: PasswordReader
    states: CalendarStateStore

    @property
    def topics(self) -> Topics:
        """Topic names of this deployment."""
        return self.settings.topics


@dataclass(slots=True)
class CalendarJobResult:
    """What one job did."""

    published: int = 0
    dropped: int = 0
    removed: int = 0
    unusable: int = 0
    calendars: list[str] = field(default_factory=list)
    failed: SyncProblem | None = None


@dataclass(frozen=True, slots=True)
class _Calendar:
    """One calendar being synced, with what every step needs."""

    account: AccountConfigured
    ports: CalendarPorts
    info: CalendarInfo
    window: tuple[datetime, datetime]
    result: CalendarJobResult


def sync_window(settings: FetcherSettings, now: datetime) -> tuple[datetime, datetime]:
    """The time range a calendar job reads: the past and future days the settings say."""
    return (
        now - timedelta(days=settings.calendar_past_days),
        now + timedelta(days=settings.calendar_future_days),
    )


async def run_calendar_job(
    account: AccountConfigured, ports: CalendarPorts, now: datetime | None = None
) -> CalendarJobResult:
    """Sync every selected calendar of an account, and take away those no longer synced
    (deselected, or deleted on the server); a server problem is a ``failing`` status."""
    assert account.caldav is not None
    status = StatusReporter(account, SyncKind.CALENDAR, ports.topics, ports.publish)
    result = CalendarJobResult()
    window = sync_window(ports.settings, now or datetime.now(UTC))
    try:
        password = ports.password(account.caldav.password_encrypted, "CalDAV")
        found = await ports.read_calendars.calendars(account.caldav, password)
        chosen = selected_calendars(found, account.calendar.calendars)
        for info in chosen:
            result.calendars.append(info.name)
            await _sync(_Calendar(account, ports, info, window, result), password)
        synced = {info.url for info in chosen}
        for url in await ports.states.calendar_urls(account.account_id):
            if url not in synced:
                await _retire(_Calendar(account, ports, CalendarInfo(url, url), window, result))
    except SyncProblem as problem:
        log.warning(
            "calendar unreachable",
            extra={"account_id": account.account_id, "problem": problem.kind},
        )
        await status.failing(problem)
        result.failed = problem
        return result
    handled = result.published + result.dropped + result.removed
    await status.up_to_date(handled, handled)
    return result


async def _sync(cal: _Calendar, password: SecretStr) -> None:
    """One calendar: its changes published, its series expanded again when the window
    moved, then its new state stored."""
    assert cal.account.caldav is not None
    states, account_id, url = cal.ports.states, cal.account.account_id, cal.info.url
    state = await states.load(account_id, url) or CalendarState()
    changes = await cal.ports.read_calendars.changes(cal.account.caldav, password, url, state.token)
    known = dict(state.objects)
    if changes.full:
        present = {r.href for r in changes.changed}
        gone = [href for href in known if href not in present]
    else:
        gone = [href for href in changes.removed if href in known]
    fresh = [r for r in changes.changed if r.etag is None or known.get(r.href) != r.etag]
    objects = known | {r.href: r.etag for r in changes.changed}
    for href in (*gone, *changes.removed):
        objects.pop(href, None)
    series = set(state.series) - {r.href for r in fresh}
    # a state from before series were tracked: every object is looked at once
    legacy = state.expanded_until is None and bool(state.objects)
    again: tuple[CalendarResource, ...] = ()
    expand = legacy or window_moved(state.expanded_until, cal.window[1])
    if expand:
        changed = {r.href for r in fresh}
        candidates = objects if legacy else series
        stale = [h for h in objects if h in candidates and h not in changed]
        again = await cal.ports.read_calendars.fetch(cal.account.caldav, password, url, stale)
    for start in range(0, len(fresh), CHUNK):
        series |= await _apply(cal, fresh[start : start + CHUNK], known, refresh=False)
    for start in range(0, len(again), CHUNK):
        series |= await _apply(cal, again[start : start + CHUNK], known, refresh=True)
    await _forget(cal, gone)
    until = cal.window[1] if expand or state.expanded_until is None else state.expanded_until
    kept = tuple(h for h in objects if h in series)
    await states.save(
        account_id, url, CalendarState(changes.token, tuple(objects.items()), kept, until)
    )


def window_moved(expanded_until: datetime | None, window_end: datetime) -> bool:
    """Whether the window's end moved far enough since the series were last expanded to
    expand them again (new occurrences of an unchanged series come into the window)."""
    return expanded_until is not None and window_end - expanded_until >= REEXPAND_AFTER


async def _apply(
    cal: _Calendar, chunk: Sequence[CalendarResource], known: Mapping[str, object], refresh: bool
) -> set[str]:
    """Publish the occurrences of these objects and remove those they lost; remember what
    each published. Returns the hrefs of those holding a recurring series."""
    account, states, url = cal.account, cal.ports.states, cal.info.url
    source = EventSource(account.workspace_id, account.account_id, cal.info.name)
    decided = {r.href: calendar_decisions(r.ical, source, r.href, cal.window) for r in chunk}
    new = {href for href in decided if href not in known}  # nothing to look up
    before = await states.items(account.account_id, url, [h for h in decided if h not in new])
    plans = {
        href: plan_refresh(d, before.get(href, []))
        if refresh
        else plan_object(d, before.get(href, []), cal.window[0])
        for href, d in decided.items()
    }
    outgoing = [
        *(o for href, plan in plans.items() for d in plan.act if (o := _act(cal, href, d))),
        *(_removal(cal, key, why) for plan in plans.values() for key, why in plan.remove),
    ]
    await cal.ports.publish.many(outgoing)
    changed = {h: p.items for h, p in plans.items() if list(p.items) != before.get(h)}
    await states.save_items(account.account_id, url, changed, new)
    return {href for href, plan in plans.items() if plan.recurring}


def _act(cal: _Calendar, href: str, decision: EventDecision) -> Outgoing | None:
    """What one decision publishes, if anything (counted as it will be once published).
    Calendar data that cannot become a meeting, or a meeting that cannot travel, is an
    unreadable drop: one broken event never stops a calendar."""
    ports, result, account = cal.ports, cal.result, cal.account
    match decision:
        case Publish(event):
            record = event_record(event, ports.topics)
            if record[0] == ports.topics.calendar_raw:
                result.published += 1
            else:
                result.unusable += 1
            return record
        case Drop(dropped):
            result.dropped += 1
            return ports.topics.dropped, dropped.item_id, dropped
        case Cancel(_, uid, recurrence_id):
            return _removal(cal, (uid, recurrence_id), "cancelled")
        case Unusable(uid, reason):
            result.unusable += 1
            drop = unreadable_event(account.workspace_id, account.account_id, uid or href, reason)
            return dropped_record(drop, ports.topics)
        case Outside():
            return None


def _removal(cal: _Calendar, item: ItemKey, reason: RemovalReason) -> Outgoing:
    """Telling the pipeline that an occurrence left this calendar (same key as its
    versions)."""
    account, (uid, recurrence_id) = cal.account, item
    item_id = event_item_id(account.workspace_id, uid, recurrence_id)
    removal = RawEventRemoved(
        item_id=item_id,
        workspace_id=account.workspace_id,
        account_id=account.account_id,
        ical_uid=uid,
        recurrence_id=recurrence_id,
        reason=reason,
    )
    cal.result.removed += 1
    return removal_record(removal, cal.ports.topics)


async def _forget(cal: _Calendar, hrefs: Sequence[str]) -> None:
    """Deleted objects: every occurrence they published leaves the timeline."""
    account_id, url = cal.account.account_id, cal.info.url
    for start in range(0, len(hrefs), CHUNK):
        chunk = hrefs[start : start + CHUNK]
        published = await cal.ports.states.items(account_id, url, chunk)
        await cal.ports.publish.many(
            [_removal(cal, item, "deleted") for items in published.values() for item in items]
        )
        await cal.ports.states.forget(account_id, url, chunk)


async def _retire(cal: _Calendar) -> None:
    """A calendar no longer synced (deselected, or deleted on the server): everything it
    published leaves the timeline, then its state is forgotten."""
    states, account_id, url = cal.ports.states, cal.account.account_id, cal.info.url
    state = await states.load(account_id, url)
    await _forget(cal, [href for href, _ in state.objects] if state else [])
    await states.forget_calendar(account_id, url)
