"""One calendar sync job: discovery, then what changed in each calendar since its token.

For each selected calendar, the job asks for the changes since the stored sync token
(everything on the first sync, after an expired token, or on a server without tokens),
expands each changed object into its occurrences in the window, publishes them, removes
the occurrences an object no longer has (or that were deleted with it), and only then
stores the new token. Ids depend on the workspace, UID and RECURRENCE-ID only, so a full
resync publishes the same items again and duplicates nothing downstream.
"""

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import SecretStr

from crm_schemas.calendar import RawEventRemoved
from crm_schemas.config import AccountConfigured
from crm_schemas.ids import event_item_id
from crm_schemas.sync import SyncKind
from crm_schemas.topics import Topics
from fetcher.domain.calendars import removed_items, selected_calendars
from fetcher.domain.ical import (
    Cancel,
    Drop,
    EventDecision,
    EventSource,
    Publish,
    Unusable,
    calendar_decisions,
)
from fetcher.domain.model import CalendarInfo, CalendarResource, CalendarState, ItemKey
from fetcher.domain.problems import SyncProblem
from fetcher.ports import CalendarReader, CalendarStateStore, PasswordReader, Publisher
from fetcher.settings import FetcherSettings
from fetcher.status import StatusReporter

log = logging.getLogger(__name__)
CHUNK = 100  # objects handled concurrently


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


async def run_calendar_job(account: AccountConfigured, ports: CalendarPorts) -> CalendarJobResult:
    """Sync every selected calendar of an account; a server problem is a ``failing`` status."""
    assert account.caldav is not None
    status = StatusReporter(account, SyncKind.CALENDAR, ports.topics, ports.publish)
    result = CalendarJobResult()
    window = sync_window(ports.settings, datetime.now(UTC))
    try:
        password = ports.password(account.caldav.password_encrypted, "CalDAV")
        found = await ports.read_calendars.calendars(account.caldav, password)
        for info in selected_calendars(found, account.calendar.calendars):
            result.calendars.append(info.name)
            await _sync(_Calendar(account, ports, info, window, result), password)
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
    """One calendar: its changes published, then its new token stored."""
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
    for start in range(0, len(fresh), CHUNK):
        chunk = fresh[start : start + CHUNK]
        await asyncio.gather(*(_apply(cal, r, r.href in known) for r in chunk))
    await asyncio.gather(*(_forget(cal, href) for href in gone))
    objects = known | {r.href: r.etag for r in changes.changed}
    for href in (*gone, *changes.removed):
        objects.pop(href, None)
    await states.save(account_id, url, CalendarState(changes.token, tuple(objects.items())))


async def _apply(cal: _Calendar, resource: CalendarResource, known: bool) -> None:
    """Publish an object's occurrences; remove those it had before and no longer has."""
    account = cal.account
    source = EventSource(account.workspace_id, account.account_id, resource.calendar)
    decisions = calendar_decisions(resource.ical, source, resource.href, cal.window)
    before = await cal.ports.states.items(account.account_id, cal.info.url, resource.href)
    before = before if known else []
    published = await asyncio.gather(*(_act(cal, resource, d) for d in decisions))
    now = [key for key in published if key is not None]
    private = {d.dropped.item_id for d in decisions if isinstance(d, Drop)}
    keep = {(d.uid, d.recurrence_id) for d in decisions if isinstance(d, Cancel)}
    if any(isinstance(d, Unusable) for d in decisions):  # a broken edit removes nothing
        keep |= set(before)
    for item in removed_items(before, now, keep):
        made_private = event_item_id(account.workspace_id, *item) in private
        await _remove(cal, item, "private" if made_private else "deleted")
    kept = now + [i for i in before if i in keep and i not in now]
    await cal.ports.states.save_items(account.account_id, cal.info.url, resource.href, kept)


async def _act(
    cal: _Calendar, resource: CalendarResource, decision: EventDecision
) -> ItemKey | None:
    """Carry out one decision; the key of a published occurrence, else None."""
    ports, result = cal.ports, cal.result
    match decision:
        case Publish(event):
            await ports.publish(ports.topics.calendar_raw, event.item_id, event)
            result.published += 1
            return (event.ical_uid, event.recurrence_id)
        case Drop(dropped):
            await ports.publish(ports.topics.dropped, dropped.item_id, dropped)
            result.dropped += 1
        case Cancel(_, uid, recurrence_id):
            await _remove(cal, (uid, recurrence_id), "cancelled")
        case Unusable(uid, reason):
            # One broken event must not stop a calendar: it is skipped, loudly.
            log.warning(
                "calendar event skipped",
                extra={
                    "account_id": cal.account.account_id,
                    "href": resource.href,
                    "uid": uid,
                    "reason": reason,
                },
            )
            result.unusable += 1
    return None


async def _remove(
    cal: _Calendar, item: ItemKey, reason: Literal["deleted", "cancelled", "private"]
) -> None:
    """Tell the pipeline that an occurrence left this calendar (same key as its versions)."""
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
    await cal.ports.publish(cal.ports.topics.calendar_raw, item_id, removal)
    cal.result.removed += 1


async def _forget(cal: _Calendar, href: str) -> None:
    """A deleted object: every occurrence it published leaves the timeline."""
    account_id, url = cal.account.account_id, cal.info.url
    for item in await cal.ports.states.items(account_id, url, href):
        await _remove(cal, item, "deleted")
    await cal.ports.states.forget(account_id, url, href)
