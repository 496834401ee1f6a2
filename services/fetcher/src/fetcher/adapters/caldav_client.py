"""Calendars over CalDAV with the ``caldav`` library (synchronous, run off the event loop)."""

import asyncio
from datetime import datetime
from typing import Any, cast

import caldav
from caldav.lib import error as caldav_error
from pydantic import SecretStr

from crm_schemas.config import CalDavConnection
from fetcher.domain.model import CalendarResource
from fetcher.domain.problems import ProblemKind, SyncProblem

PROTOCOL = "CalDAV"
_DNS_HINTS = ("resolve", "name or service not known", "nodename nor servname", "getaddrinfo")


def _problem(error: BaseException) -> SyncProblem:
    text = str(error)
    if isinstance(error, caldav_error.AuthorizationError):
        return SyncProblem(ProblemKind.AUTH, PROTOCOL, text)
    if "ssl" in type(error).__name__.lower() or "certificate" in text.lower():
        return SyncProblem(ProblemKind.TLS, PROTOCOL, text)
    if isinstance(error, OSError):
        kind = ProblemKind.DNS if any(h in text.lower() for h in _DNS_HINTS) else None
        return SyncProblem(kind or ProblemKind.CONNECTION, PROTOCOL, text)
    return SyncProblem(ProblemKind.PROTOCOL, PROTOCOL, text)


def _calendar_name(calendar: Any) -> str:
    return str(calendar.name or calendar.url)


def _read(
    connection: CalDavConnection, password: SecretStr, start: datetime, end: datetime, timeout: int
) -> list[CalendarResource]:
    client = caldav.DAVClient(
        url=connection.url,
        username=connection.username,
        password=password.get_secret_value(),
        timeout=timeout,
        enable_rfc6764=False,
    )
    try:
        with client:
            resources: list[CalendarResource] = []
            principal = cast(Any, client).principal()
            for calendar in principal.calendars():
                found = calendar.search(start=start, end=end, event=True, expand=False)
                name = _calendar_name(calendar)
                resources.extend(
                    CalendarResource(calendar=name, href=str(obj.url), ical=str(obj.data))
                    for obj in found
                    if obj.data
                )
            return resources
    except (caldav_error.DAVError, OSError) as error:
        raise _problem(error) from error


class CalDavReader:
    """Reads every event in a time window from every calendar of an account."""

    def __init__(self, timeout_s: float = 30) -> None:
        self._timeout = int(timeout_s)

    async def __call__(
        self, connection: CalDavConnection, password: SecretStr, start: datetime, end: datetime
    ) -> list[CalendarResource]:
        """Calendar objects with an occurrence in [start, end); SyncProblem when unreachable."""
        return await asyncio.to_thread(_read, connection, password, start, end, self._timeout)
