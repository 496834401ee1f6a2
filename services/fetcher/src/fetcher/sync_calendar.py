"""One calendar sync job: every event in the window, published again.

Without sync tokens yet, each job re-reads the window; publishing is idempotent
downstream (ids depend on the workspace, UID and RECURRENCE-ID only).
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crm_schemas.config import AccountConfigured
from crm_schemas.sync import SyncKind
from crm_schemas.topics import Topics
from fetcher.domain.ical import Drop, EventDecision, EventSource, Publish, calendar_decisions
from fetcher.domain.model import CalendarResource
from fetcher.domain.problems import SyncProblem
from fetcher.ports import CalendarReader, PasswordReader, Publisher
from fetcher.settings import FetcherSettings
from fetcher.status import StatusReporter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CalendarPorts:
    """What a calendar job talks to."""

    settings: FetcherSettings
    read_calendars: CalendarReader
    publish: Publisher
    password: PasswordReader

    @property
    def topics(self) -> Topics:
        """Topic names of this deployment."""
        return self.settings.topics


@dataclass(slots=True)
class CalendarJobResult:
    """What one job did."""

    published: int = 0
    dropped: int = 0
    unusable: int = 0
    failed: SyncProblem | None = None


def sync_window(settings: FetcherSettings, now: datetime) -> tuple[datetime, datetime]:
    """The time range a calendar job reads: the past and future days the settings say."""
    return (
        now - timedelta(days=settings.calendar_past_days),
        now + timedelta(days=settings.calendar_future_days),
    )


async def run_calendar_job(account: AccountConfigured, ports: CalendarPorts) -> CalendarJobResult:
    """Publish every meeting of an account's calendars in the window; drop private ones.

    A problem reaching the server becomes a ``failing`` status, not a retry.
    """
    assert account.caldav is not None
    status = StatusReporter(account, SyncKind.CALENDAR, ports.topics, ports.publish)
    result = CalendarJobResult()
    start, end = sync_window(ports.settings, datetime.now(UTC))
    try:
        password = ports.password(account.caldav.password_encrypted, "CalDAV")
        resources = await ports.read_calendars(account.caldav, password, start, end)
    except SyncProblem as problem:
        log.warning(
            "calendar unreachable",
            extra={"account_id": account.account_id, "problem": problem.kind},
        )
        await status.failing(problem)
        result.failed = problem
        return result
    for resource in resources:
        await _publish_resource(account, ports, resource, result)
    handled = result.published + result.dropped
    await status.up_to_date(handled, handled)
    return result


async def _publish_resource(
    account: AccountConfigured,
    ports: CalendarPorts,
    resource: CalendarResource,
    result: CalendarJobResult,
) -> None:
    source = EventSource(account.workspace_id, account.account_id, resource.calendar)
    decisions = calendar_decisions(resource.ical, source, fallback_uid=resource.href)
    await asyncio.gather(*(_act(account, ports, resource, d, result) for d in decisions))


async def _act(
    account: AccountConfigured,
    ports: CalendarPorts,
    resource: CalendarResource,
    decision: EventDecision,
    result: CalendarJobResult,
) -> None:
    match decision:
        case Publish(event):
            await ports.publish(ports.topics.calendar_raw, event.item_id, event)
            result.published += 1
        case Drop(dropped):
            await ports.publish(ports.topics.dropped, dropped.item_id, dropped)
            result.dropped += 1
        case _:
            # One broken event must not stop a calendar: it is skipped, loudly.
            log.warning(
                "calendar event skipped",
                extra={
                    "account_id": account.account_id,
                    "href": resource.href,
                    "uid": decision.uid,
                    "reason": decision.reason,
                },
            )
            result.unusable += 1
