"""Microsoft Graph calendar: ``calendarView/delta`` over the sync window, deltaLink stored.

learn.microsoft.com/graph/api/event-delta: the first round names the window
(startDateTime, endDateTime) and pages by ``@odata.nextLink``; the ``@odata.deltaLink``
keeps that window for later rounds. Occurrences come expanded; deleted ones as
``@removed``. A 410 Gone (or ``syncStateNotFound``) means a full resync.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from crm_schemas.config import AccountConfigured
from fetcher.domain.api_events import graph_event_decision, read_event
from fetcher.domain.ical import EventSource
from fetcher.providers.base import CursorExpired, EventPage, Phase, ProviderCursor
from fetcher.providers.graph_mail import EXPIRED_CODES
from fetcher.providers.http import ApiClient, ApiError

PAGE_SIZE = 100


class GraphCalendar:
    """An account's default calendar behind the CalendarProvider interface."""

    def __init__(
        self,
        api: ApiClient,
        base_url: str,
        account: AccountConfigured,
        window: tuple[datetime, datetime],
        concurrency: int,
    ) -> None:
        self._api = api
        self._base = base_url.rstrip("/")
        self._account = account
        self._window = window
        self._slots = asyncio.Semaphore(concurrency)

    def streams(self) -> Sequence[str]:
        """The default calendar's view of the window."""
        return ("calendarView",)

    async def changes(self, stream: str, cursor: ProviderCursor) -> EventPage:
        """The delta page the cursor points at."""
        link = cursor.page or cursor.token
        params = None
        if link is None:
            link = f"{self._base}/me/calendarView/delta"
            start, end = self._window
            params = {
                "startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        headers = {"Prefer": f'odata.maxpagesize={PAGE_SIZE}, outlook.timezone="UTC"'}
        try:
            async with self._slots:
                body = await self._api.json("GET", link, params=params, headers=headers)
        except ApiError as error:
            if error.status == 410 or error.reason.casefold() in EXPIRED_CODES:
                raise CursorExpired(f"Graph calendar delta expired: {error.reason}") from error
            raise
        source = EventSource(
            self._account.workspace_id, self._account.account_id, "calendar", provider="graph"
        )
        decisions = tuple(
            (str(item["id"]), read_event(graph_event_decision, item, source))
            for item in body.get("value", [])
        )
        next_link = body.get("@odata.nextLink")
        if next_link:
            return EventPage(decisions, replace(cursor, page=str(next_link), offset=0), more=True)
        delta = str(body["@odata.deltaLink"])
        after = replace(cursor, phase=Phase.INCREMENTAL, token=delta, page=None, offset=0)
        return EventPage(decisions, after, more=False)
