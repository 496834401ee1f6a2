"""Calendars over CalDAV with the ``caldav`` library (synchronous, run off the event loop).

Discovery goes principal -> calendar home set -> calendars. Changes come from a WebDAV
sync-collection REPORT (RFC 6578): the first time (and whenever the server rejects the
stored token as expired or invalid) with no token, which lists every object, then with
the token the server gave, which lists only what changed and the hrefs deleted. Changed
objects are fetched with calendar-multiget, a batch at a time. A server without sync
tokens gets the ``caldav`` library's fallback: a full listing whose token is a hash of
every etag (``fake-...``), so an unchanged calendar costs one listing and nothing else.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote

import caldav
from caldav.elements import dav
from caldav.lib import error as caldav_error
from pydantic import SecretStr

from crm_runtime.egress import GUARDED, EgressPolicy, forbidden_in
from crm_runtime.egress_http import guard_dav_client
from crm_schemas.config import CalDavConnection
from fetcher.domain.model import CalendarChanges, CalendarInfo, CalendarResource
from fetcher.domain.problems import ProblemKind, SyncProblem

PROTOCOL = "CalDAV"
Timeout = tuple[float, float]  # (connect, read) seconds
MULTIGET_BATCH = 200
_DNS_HINTS = ("resolve", "name or service not known", "nodename nor servname", "getaddrinfo")
_ETAG = dav.GetEtag.tag


def _problem(error: BaseException) -> SyncProblem:
    text = str(error)
    forbidden = forbidden_in(error)
    if forbidden is not None:
        return SyncProblem(ProblemKind.FORBIDDEN_HOST, PROTOCOL, str(forbidden))
    if isinstance(error, caldav_error.AuthorizationError):
        return SyncProblem(ProblemKind.AUTH, PROTOCOL, text)
    if "ssl" in type(error).__name__.lower() or "certificate" in text.lower():
        return SyncProblem(ProblemKind.TLS, PROTOCOL, text)
    if isinstance(error, OSError):
        kind = ProblemKind.DNS if any(h in text.lower() for h in _DNS_HINTS) else None
        return SyncProblem(kind or ProblemKind.CONNECTION, PROTOCOL, text)
    return SyncProblem(ProblemKind.PROTOCOL, PROTOCOL, text)


@dataclass(frozen=True, slots=True)
class Dial:
    """How a CalDAV client connects: its (connect, read) timeouts, and where to."""

    timeout: Timeout
    egress: EgressPolicy


def _client(connection: CalDavConnection, password: SecretStr, dial: Dial) -> Any:
    """A client whose every connection, a redirect's too, goes to vetted addresses."""
    client = caldav.DAVClient(
        url=connection.url,
        username=connection.username,
        password=password.get_secret_value(),
        # niquests takes (connect, read), as requests does; caldav's hint says int only
        timeout=cast(Any, dial.timeout),
        enable_rfc6764=False,
    )
    return guard_dav_client(client, dial.egress)


def _components(calendar: Any) -> frozenset[str]:
    try:
        return frozenset(str(c).upper() for c in calendar.get_supported_components())
    except (caldav_error.DAVError, KeyError, AttributeError):
        return frozenset()


def _discover(connection: CalDavConnection, password: SecretStr, dial: Dial) -> list[CalendarInfo]:
    try:
        with _client(connection, password, dial) as client:
            principal = cast(Any, client).principal()
            return [
                CalendarInfo(url=str(c.url), name=str(c.name or c.url), components=_components(c))
                for c in principal.calendars()
            ]
    except (caldav_error.DAVError, OSError) as error:
        raise _problem(error) from error


def _href(obj: Any) -> str:
    """An object's URL in one form whichever response it came from: a sync report quotes
    an ``@`` in the path (``%40``, as in a login that is an address) where a multiget
    answer does not, and a deletion must find the href its object was stored under."""
    return unquote(str(obj.url))


def _etag(obj: Any) -> str | None:
    value = (getattr(obj, "props", None) or {}).get(_ETAG)
    return str(value) if value else None


def _resources(calendar: Any, objects: list[Any]) -> tuple[CalendarResource, ...]:
    """The iCalendar data of ``objects`` (already loaded or fetched by multiget)."""
    etags = {_href(o): _etag(o) for o in objects}
    missing = [o.url for o in objects if not getattr(o, "_data", None)]
    loaded = [o for o in objects if getattr(o, "_data", None)]
    for start in range(0, len(missing), MULTIGET_BATCH):
        loaded.extend(calendar.multiget(missing[start : start + MULTIGET_BATCH]))
    name = str(calendar.name or calendar.url)
    return tuple(
        CalendarResource(calendar=name, href=_href(o), ical=str(o.data), etag=etags.get(_href(o)))
        for o in loaded
        if o.data
    )


def _sync_report(calendar: Any, token: str | None) -> CalendarChanges:
    collection = calendar.objects_by_sync_token(
        sync_token=token, load_objects=False, disable_fallback=True
    )
    objects = list(collection)
    removed = tuple(_href(o) for o in objects if token is not None and _etag(o) is None)
    present = [o for o in objects if _href(o) not in removed]
    return CalendarChanges(
        token=str(collection.sync_token),
        full=token is None,
        changed=_resources(calendar, present),
        removed=removed,
    )


def _fallback(calendar: Any, token: str | None) -> CalendarChanges:
    """Without sync tokens: the library lists everything and hashes the etags."""
    fake = token if token and token.startswith("fake-") else None
    collection = calendar.objects_by_sync_token(sync_token=fake, load_objects=True)
    new_token = str(collection.sync_token)
    if fake is not None and new_token == fake:
        return CalendarChanges(token=new_token, full=False)
    return CalendarChanges(
        token=new_token, full=True, changed=_resources(calendar, list(collection))
    )


def _changes(
    connection: CalDavConnection, password: SecretStr, url: str, token: str | None, dial: Dial
) -> CalendarChanges:
    try:
        with _client(connection, password, dial) as client:
            calendar = cast(Any, client).calendar(url=url)
            if token is None or not token.startswith("fake-"):
                try:
                    return _sync_report(calendar, token)
                except caldav_error.DAVError:
                    if token is None:  # no sync-collection on this server
                        return _fallback(calendar, None)
                try:  # an expired or invalid token: everything again
                    return _sync_report(calendar, None)
                except caldav_error.DAVError:
                    return _fallback(calendar, None)
            return _fallback(calendar, token)
    except (caldav_error.DAVError, OSError) as error:
        raise _problem(error) from error


def _fetch(
    connection: CalDavConnection,
    password: SecretStr,
    url: str,
    hrefs: Sequence[str],
    dial: Dial,
) -> tuple[CalendarResource, ...]:
    try:
        with _client(connection, password, dial) as client:
            calendar = cast(Any, client).calendar(url=url)
            loaded: list[Any] = []
            for start in range(0, len(hrefs), MULTIGET_BATCH):
                loaded.extend(calendar.multiget(list(hrefs[start : start + MULTIGET_BATCH])))
            return _resources(calendar, loaded)
    except (caldav_error.DAVError, OSError) as error:
        raise _problem(error) from error


class CalDavReader:
    """Discovers an account's calendars and reads what changed in each."""

    def __init__(
        self,
        connect_timeout_s: float = 30,
        read_timeout_s: float = 300,
        egress: EgressPolicy = GUARDED,
    ) -> None:
        # a first listing of a large calendar is computed whole before its first byte
        self._dial = Dial((connect_timeout_s, read_timeout_s), egress)

    async def calendars(
        self, connection: CalDavConnection, password: SecretStr
    ) -> list[CalendarInfo]:
        """The calendars of the account's principal; SyncProblem when unreachable."""
        return await asyncio.to_thread(_discover, connection, password, self._dial)

    async def changes(
        self, connection: CalDavConnection, password: SecretStr, url: str, token: str | None
    ) -> CalendarChanges:
        """What changed since ``token``; SyncProblem when unreachable."""
        return await asyncio.to_thread(_changes, connection, password, url, token, self._dial)

    async def fetch(
        self, connection: CalDavConnection, password: SecretStr, url: str, hrefs: Sequence[str]
    ) -> tuple[CalendarResource, ...]:
        """The current data of these objects (calendar-multiget); SyncProblem when unreachable."""
        if not hrefs:
            return ()
        return await asyncio.to_thread(_fetch, connection, password, url, hrefs, self._dial)
