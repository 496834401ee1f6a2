"""Google Calendar: events.list with ``singleEvents=true`` and a sync token per calendar.

developers.google.com/calendar/api/guides/sync: page with ``pageToken`` until the last
page gives ``nextSyncToken``; later rounds pass ``syncToken`` and get every change,
deleted events included (``status: cancelled``). A 410 Gone means the token is no longer
valid: wipe and sync the calendar in full.
"""

from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from crm_schemas.config import AccountConfigured
from fetcher.domain.api_events import google_event_decision, read_event
from fetcher.domain.ical import EventSource
from fetcher.providers.base import CursorExpired, EventPage, Phase, ProviderCursor
from fetcher.providers.http import ApiClient, ApiError

PAGE_SIZE = 250


def google_calendar_streams(account: AccountConfigured) -> tuple[str, ...]:
    """The primary calendar, or the calendars (by id) the owner chose."""
    return tuple(account.calendar.calendars) or ("primary",)


class GoogleCalendar:
    """An account's Google calendars behind the CalendarProvider interface."""

    def __init__(self, api: ApiClient, base_url: str, account: AccountConfigured) -> None:
        self._api = api
        self._base = base_url.rstrip("/")
        self._account = account

    def streams(self) -> Sequence[str]:
        """The primary calendar, or the calendars (by id) the owner chose."""
        return google_calendar_streams(self._account)

    async def changes(self, stream: str, cursor: ProviderCursor) -> EventPage:
        """The events.list page the cursor points at."""
        params: dict[str, Any] = {
            "singleEvents": "true",
            "showDeleted": "true",
            "maxResults": PAGE_SIZE,
        }
        if cursor.phase is Phase.INCREMENTAL:
            params["syncToken"] = cursor.token
        if cursor.page:
            params["pageToken"] = cursor.page
        url = f"{self._base}/calendar/v3/calendars/{quote(stream, safe='')}/events"
        try:
            body = await self._api.json("GET", url, params=params)
        except ApiError as error:
            if error.status == 410:
                raise CursorExpired(f"Google Calendar sync token of {stream} expired") from error
            raise
        source = EventSource(
            self._account.workspace_id, self._account.account_id, stream, provider="google"
        )
        decisions = tuple(
            (str(item["id"]), read_event(google_event_decision, item, source))
            for item in body.get("items", [])
        )
        token = body.get("nextPageToken")
        if token:
            return EventPage(decisions, replace(cursor, page=str(token), offset=0), more=True)
        after = replace(
            cursor, phase=Phase.INCREMENTAL, token=str(body["nextSyncToken"]), page=None, offset=0
        )
        return EventPage(decisions, after, more=False)
