"""One calendar sync job for a Google or Microsoft account, through its API provider.

Each page's decisions are carried out (occurrences published, private ones dropped without
content, deleted or cancelled ones removed), then the page's cursor is saved. A deleted
event arrives with its provider id only, so the occurrences each provider id published
are remembered (by ``_id``) to know which items to remove.
"""

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from crm_schemas.calendar import RawEventRemoved
from crm_schemas.config import AccountConfigured
from crm_schemas.ids import event_item_id
from crm_schemas.sync import SyncKind
from crm_schemas.topics import Topics
from fetcher.domain.api_events import ApiEventDecision, Gone
from fetcher.domain.ical import Drop, Publish
from fetcher.domain.problems import SyncProblem
from fetcher.ports import CalendarStateStore, Publisher
from fetcher.providers.base import CalendarProvider, CursorExpired, ProviderCursor, Throttled
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
        for provider_id, decision in page.decisions:
            await _apply(account, ports, calendar, provider_id, decision, window, result)
        cursor = page.cursor.at(0, cursor.done + len(page.decisions))
        await ports.cursors.save(account.account_id, f"calendar:{stream}", cursor)
        if not page.more:
            return


async def _apply(
    account: AccountConfigured,
    ports: OAuthCalendarPorts,
    calendar: str,
    provider_id: str,
    decision: ApiEventDecision,
    window: tuple[datetime, datetime],
    result: OAuthCalendarResult,
) -> None:
    states, topics = ports.states, ports.topics
    match decision:
        case Publish(event) if event.ends_at >= window[0] and event.starts_at <= window[1]:
            await ports.publish(topics.calendar_raw, event.item_id, event)
            await states.save_items(
                account.account_id, calendar, {provider_id: [(event.ical_uid, event.recurrence_id)]}
            )
            result.published += 1
        case Publish(_):
            return  # outside the sync window
        case Drop(dropped):
            await _remove(account, ports, calendar, provider_id, "private", result)
            await ports.publish(topics.dropped, dropped.item_id, dropped)
            result.dropped += 1
        case Gone(_, reason):
            await _remove(account, ports, calendar, provider_id, reason, result)


async def _remove(
    account: AccountConfigured,
    ports: OAuthCalendarPorts,
    calendar: str,
    provider_id: str,
    reason: str,
    result: OAuthCalendarResult,
) -> None:
    """Remove the occurrences a provider id published before, if any."""
    published = await ports.states.items(account.account_id, calendar, [provider_id])
    for uid, recurrence_id in published.get(provider_id, []):
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
        await ports.publish(ports.topics.calendar_raw, removed.item_id, removed)
        result.removed += 1
    await ports.states.forget(account.account_id, calendar, provider_id)
