"""One calendar sync job for a Google or Microsoft account, through its API provider.

Each page's decisions are carried out (occurrences published, private ones dropped without
content, deleted or cancelled ones removed), then the page's cursor is saved. A deleted
event arrives with its provider id only, so the occurrences each provider id published
are remembered (by ``_id``) to know which items to remove.
"""

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from crm_schemas.calendar import RawEventRemoved
from crm_schemas.config import AccountConfigured
from crm_schemas.ids import event_item_id
from crm_schemas.sync import SyncKind
from crm_schemas.topics import Topics
from fetcher.domain.api_events import ApiEventDecision, Gone
from fetcher.domain.ical import Drop, Publish, Unusable
from fetcher.domain.model import ItemKey
from fetcher.domain.problems import SyncProblem
from fetcher.domain.unreadable import unreadable_event
from fetcher.ports import CalendarStateStore, Outgoing, Publisher
from fetcher.providers.base import CalendarProvider, CursorExpired, ProviderCursor, Throttled
from fetcher.publishing import dropped_record, event_record, removal_record
from fetcher.settings import FetcherSettings
from fetcher.status import StatusReporter
from fetcher.sync_calendar import sync_window
from fetcher.sync_oauth import ProviderCursorStore

log = logging.getLogger(__name__)

CalendarOpener = Callable[
    [AccountConfigured, tuple[datetime, datetime]], AbstractAsyncContextManager[CalendarProvider]
]


@dataclass(frozen=True, slots=True)
class OAuthCalendarPorts:
    """What an API calendar job talks to."""

    settings: FetcherSettings
    open_provider: CalendarOpener
    cursors: ProviderCursorStore
    states: CalendarStateStore
    publish: Publisher

    @property
    def topics(self) -> Topics:
        """Topic names of this deployment."""
        return self.settings.topics


@dataclass(slots=True)
class OAuthCalendarResult:
    """What one job did."""

    published: int = 0
    dropped: int = 0
    removed: int = 0
    resyncs: int = 0
    more: bool = False
    failed: SyncProblem | None = None
    streams: list[str] = field(default_factory=list)


async def run_oauth_calendar_job(
    account: AccountConfigured, ports: OAuthCalendarPorts
) -> OAuthCalendarResult:
    """Sync every calendar of a Google or Microsoft account; problems become a status."""
    status = StatusReporter(account, SyncKind.CALENDAR, ports.topics, ports.publish)
    result = OAuthCalendarResult()
    window = sync_window(ports.settings, datetime.now(UTC))
    try:
        async with ports.open_provider(account, window) as provider:
            for stream in provider.streams():
                result.streams.append(stream)
                await _sync_stream(account, provider, stream, ports, window, result)
    except SyncProblem as problem:
        log.warning(
            "calendar unreachable",
            extra={"account_id": account.account_id, "problem": problem.kind},
        )
        await status.failing(problem)
        result.failed = problem
        return result
    except Throttled:
        result.more = True
        await status.continue_later()
        return result
    handled = result.published + result.dropped + result.removed
    await status.up_to_date(handled, handled)
    return result


async def _sync_stream(
    account: AccountConfigured,
    provider: CalendarProvider,
    stream: str,
    ports: OAuthCalendarPorts,
    window: tuple[datetime, datetime],
    result: OAuthCalendarResult,
) -> None:
    cursor = await ports.cursors.load(account.account_id, f"calendar:{stream}") or ProviderCursor()
    while True:
        try:
            page = await provider.changes(stream, cursor)
        except CursorExpired:
            log.info(
                "calendar cursor expired: full resync", extra={"account_id": account.account_id}
            )
            result.resyncs += 1
            cursor = ProviderCursor()
            continue
        calendar = f"{account.oauth.provider if account.oauth else 'api'}:{stream}"
        await _apply(account, ports, calendar, page.decisions, window, result)
        cursor = page.cursor.at(0, cursor.done + len(page.decisions))
        await ports.cursors.save(account.account_id, f"calendar:{stream}", cursor)
        if not page.more:
            return


async def _apply(
    account: AccountConfigured,
    ports: OAuthCalendarPorts,
    calendar: str,
    decisions: Sequence[tuple[str, ApiEventDecision]],
    window: tuple[datetime, datetime],
    result: OAuthCalendarResult,
) -> None:
    """Carry out a page's decisions: the occurrences each provider id published before
    are read at once, every event of the page goes in one bulk publish, then what each id
    published now is remembered and what the removed ids published is forgotten."""
    states, topics, account_id = ports.states, ports.topics, account.account_id
    leaving = [pid for pid, decision in decisions if not isinstance(decision, Publish)]
    before = await states.items(account_id, calendar, leaving) if leaving else {}
    outgoing: list[Outgoing] = []
    now: dict[str, list[ItemKey]] = {}
    removed: list[str] = []

    def leave(provider_id: str, reason: str) -> None:
        """Remove what the id published, in this page or before."""
        published = now.pop(provider_id, []) or before.pop(provider_id, [])
        outgoing.extend(_removals(account, topics, published, reason, result))
        removed.append(provider_id)

    for provider_id, decision in decisions:
        match decision:
            case Publish(event) if event.ends_at >= window[0] and event.starts_at <= window[1]:
                record = event_record(event, topics)
                outgoing.append(record)
                if record[0] == topics.calendar_raw:
                    now[provider_id] = [(event.ical_uid, event.recurrence_id)]
                    result.published += 1
                else:  # it cannot travel: dropped as unreadable, what it had stays
                    result.dropped += 1
            case Publish(_):
                continue  # outside the sync window
            case Unusable(uid, reason):  # it cannot be read: what it had published stays
                drop = unreadable_event(
                    account.workspace_id, account_id, uid or provider_id, reason
                )
                outgoing.append(dropped_record(drop, topics))
                result.dropped += 1
            case Drop(dropped):
                leave(provider_id, "private")
                outgoing.append((topics.dropped, dropped.item_id, dropped))
                result.dropped += 1
            case Gone(_, reason):
                leave(provider_id, reason)
    await ports.publish.many(outgoing)
    if now:
        await states.save_items(account_id, calendar, now)
    forgotten = [pid for pid in dict.fromkeys(removed) if pid not in now]
    if forgotten:
        await states.forget(account_id, calendar, forgotten)


def _removals(
    account: AccountConfigured,
    topics: Topics,
    published: Sequence[ItemKey],
    reason: str,
    result: OAuthCalendarResult,
) -> list[Outgoing]:
    """Removals of the occurrences a provider id published before, if any."""
    removals: list[Outgoing] = []
    for uid, recurrence_id in published:
        removed = RawEventRemoved(
            item_id=event_item_id(account.workspace_id, uid, recurrence_id),
            workspace_id=account.workspace_id,
            account_id=account.account_id,
            ical_uid=uid,
            recurrence_id=recurrence_id,
            reason="private"
            if reason == "private"
            else "cancelled"
            if reason == "cancelled"
            else "deleted",
        )
        removals.append(removal_record(removed, topics))
        result.removed += 1
    return removals
