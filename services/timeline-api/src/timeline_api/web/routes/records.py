"""Records: search people, companies and opportunities; a record's page with its Emails
tab (threads newest first, a page at a time) and Calendar tab (upcoming and past).

Every row is redacted for the viewer by the same domain functions as the API's tabs.
"""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from timeline_api.domain.ownership import InvalidError
from timeline_api.domain.pagination import InvalidCursorError, decode_cursor, encode_cursor
from timeline_api.domain.scope import PageRequest, RecordScope, Window
from timeline_api.domain.visibility import redact_event, redact_thread
from timeline_api.service.sign_in import SignedIn
from timeline_api.web.deps import App, Member, WebRoute
from timeline_api.web.render import page

router = APIRouter(prefix="/app", route_class=WebRoute, include_in_schema=False)
KINDS = ("people", "companies", "opportunities")
THREADS_PAGE = 25
EVENTS_PAGE = 10


@router.get("/")
async def home(request: Request, member: Member) -> Response:
    """Start here: search."""
    return page(request, "search.html", kind="people", q="", signed_in=member)


@router.get("/search")
async def search(
    request: Request, app: App, member: Member, q: str = "", kind: str = "people", cursor: str = ""
) -> Response:
    """People, companies or opportunities by name, address or domain."""
    kind = kind if kind in KINDS else "people"
    context: dict[str, Any] = {"kind": kind, "q": q, "signed_in": member}
    if q.strip():
        ws = member.member.workspace_id
        finder = getattr(app.search, kind)
        context["results"] = await finder(ws, q, cursor or None)
    return page(request, "search.html", **context)


def _page_request(cursor: str | None, limit: int) -> PageRequest:
    try:
        return PageRequest(decode_cursor(cursor) if cursor else None, limit)
    except InvalidCursorError as error:
        raise InvalidError("cursor", str(error)) from error


async def _record(app: App, kind: str, record_id: str, ws: str) -> tuple[Any, RecordScope]:
    """The record (NotFoundError outside the workspace) and its timeline's scope."""
    writer = app.records_writer
    if kind == "people":
        return await writer.person(record_id, ws), await app.timelines.person(record_id, ws)
    if kind == "companies":
        return await writer.company(record_id, ws), await app.timelines.company(record_id, ws)
    record = await writer.opportunity(record_id, ws)
    return record, await app.timelines.opportunity(record_id, ws)


async def _threads(app: App, scope: RecordScope, member: SignedIn, cursor: str | None) -> Any:
    found = await app.timelines.threads(scope, _page_request(cursor, THREADS_PAGE))
    rows = [redact_thread(t, member.member.member_id) for t in found.items]
    return rows, encode_cursor(found.next) if found.next else None


async def _events(
    app: App, scope: RecordScope, member: SignedIn, upcoming: bool, cursor: str | None
) -> Any:
    now = datetime.now(UTC)
    window = Window(now, None, newest_first=False) if upcoming else Window(None, now)
    found = await app.timelines.events(scope, window, _page_request(cursor, EVENTS_PAGE))
    rows = [redact_event(e, member.member.member_id) for e in found.items]
    return rows, encode_cursor(found.next) if found.next else None


@router.get("/{kind}/{record_id}")
async def record_page(
    request: Request,
    kind: str,
    record_id: str,
    app: App,
    member: Member,
    tab: str = "emails",
    cursor: str = "",
    up: str = "",
    past: str = "",
) -> Response:
    """A person's, company's or opportunity's page: its Emails or Calendar tab."""
    if kind not in KINDS:
        return page(request, "error.html", 404, title="Not found", detail="No such page.")
    record, scope = await _record(app, kind, record_id, member.member.workspace_id)
    if getattr(record, "merged_into", None):
        return RedirectResponse(f"/app/people/{record.merged_into}", status_code=308)
    context: dict[str, Any] = {"kind": kind, "record": record, "tab": tab, "signed_in": member}
    if kind == "people" and record.company_id:
        context["company"] = await app.records.company(record.company_id)
    if tab == "calendar":
        context["upcoming"], context["up_next"] = await _events(app, scope, member, True, up)
        context["past"], context["past_next"] = await _events(app, scope, member, False, past)
    else:
        context["threads"], context["next_cursor"] = await _threads(app, scope, member, cursor)
    return page(request, "record.html", **context)


@router.get("/{kind}/{record_id}/threads")
async def more_threads(
    request: Request, kind: str, record_id: str, app: App, member: Member, cursor: str = ""
) -> Response:
    """The next page of the Emails tab, as rows (what the "More" button asks for)."""
    if kind not in KINDS:
        return page(request, "error.html", 404, title="Not found", detail="No such page.")
    record, scope = await _record(app, kind, record_id, member.member.workspace_id)
    threads, next_cursor = await _threads(app, scope, member, cursor)
    context = {"kind": kind, "record": record, "threads": threads, "next_cursor": next_cursor}
    return page(request, "_threads.html", signed_in=member, **context)
