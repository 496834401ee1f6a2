"""The Emails and Calendar tabs of people and companies, and a whole conversation."""

import asyncio
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query

from crm_runtime.mongo import Document
from timeline_api.api.deps import Index, Rosters, Store, Viewer, in_workspace
from timeline_api.api.models import EventPage, ThreadPage
from timeline_api.api.problems import invalid_input, problem_responses
from timeline_api.domain.access import Member
from timeline_api.domain.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Cursor,
    InvalidCursorError,
    decode_cursor,
    next_cursor,
)
from timeline_api.domain.timeline_index import record_keys
from timeline_api.domain.views import ThreadDetailView
from timeline_api.domain.visibility import redact_event, redact_thread, redact_thread_detail
from timeline_api.rosters import CompanyRosters
from timeline_api.store import TimelineStore, linked
from timeline_api.timeline_index import HeadsRead, TimelineIndex

router = APIRouter(prefix="/v1", tags=["timelines"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page.")]
From = Annotated[
    datetime | None, Query(alias="from", description="Meetings starting at or after (ISO 8601).")
]
To = Annotated[datetime | None, Query(description="Meetings starting before (ISO 8601).")]
Order = Annotated[Literal["desc", "asc"], Query(description="By start: newest first by default.")]
ERRORS = problem_responses(401, 404, 422)


def _cursor(
    cursor: Annotated[
        str | None, Query(description="The `next_cursor` of the previous page.")
    ] = None,
) -> Cursor | None:
    """The page to continue from, checked before anything is looked up."""
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor)
    except InvalidCursorError as error:
        raise invalid_input("query", "cursor", str(error)) from error


CursorParam = Annotated[Cursor | None, Depends(_cursor)]


async def _person_link(store: TimelineStore, person_id: str, viewer: Member) -> Document:
    person = in_workspace(await store.person(person_id), viewer, "person", person_id)
    return linked(person["workspace_id"], list(person.get("emails", [])))


async def _company(store: TimelineStore, company_id: str, viewer: Member) -> Document:
    return in_workspace(await store.company(company_id), viewer, "company", company_id)


async def company_people_emails(
    store: TimelineStore, rosters: CompanyRosters, company: Document
) -> list[str]:
    """Every address of the company's people: from its roster (one read by ``_id``), or by
    scanning the people collection while the rosters are not complete."""
    emails = await rosters.emails(company["_id"])
    return emails if emails is not None else await store.company_people_emails(company)


async def _company_link(
    store: TimelineStore, rosters: CompanyRosters, company: Document
) -> Document:
    emails = await company_people_emails(store, rosters, company)
    return linked(company["workspace_id"], emails, list(company.get("domains", [])))


def _indexed(link: Document) -> tuple[str, list[str], list[str]]:
    """(workspace, addresses, domains) of a filter made by ``store.linked``."""
    by = link.get("$or", [link])
    emails = [e for f in by for e in f.get("participant_emails", {}).get("$in", [])]
    domains = [d for f in by for d in f.get("company_domains", {}).get("$in", [])]
    return str(link["workspace_id"]), emails, domains


async def thread_page(
    store: TimelineStore,
    index: TimelineIndex,
    link: Document,
    page: tuple[Cursor | None, int],
    viewer: Member,
    ahead: HeadsRead | None = None,
) -> ThreadPage:
    """One page of the threads a link (addresses, domains) reaches, as the viewer may see.

    From the timeline index (a few reads by ``_id``) when it can answer exactly, else from
    the threads collection (a scan on FerretDB: deep pages, or while the index catches up).
    """
    cursor, limit = page
    workspace, emails, domains = _indexed(link)
    keys = record_keys(workspace, emails, domains)
    threads = await index.threads(keys, (workspace, emails, domains), page, ahead)
    if threads is None:
        threads = await store.threads_with(link, cursor, limit)
    rows = [Cursor(t.last_activity, t.thread_id) for t in threads]
    return ThreadPage(
        items=[redact_thread(t, viewer.member_id) for t in threads[:limit]],
        next_cursor=next_cursor(rows, limit),
    )


async def event_page(
    store: TimelineStore,
    link: Document,
    window: tuple[datetime | None, datetime | None],
    page: tuple[Cursor | None, int, bool],
    viewer: Member,
) -> EventPage:
    """One page of the meetings a link reaches in a window, as the viewer may see."""
    cursor, limit, newest_first = page
    events = await store.events_with(link, window, cursor, limit, newest_first)
    keys = [Cursor(e.starts_at, e.item_id) for e in events]
    return EventPage(
        items=[redact_event(e, viewer.member_id) for e in events[:limit]],
        next_cursor=next_cursor(keys, limit),
    )


@router.get("/people/{person_id}/threads", response_model=ThreadPage, responses=ERRORS)
async def person_threads(
    person_id: str,
    store: Store,
    index: Index,
    viewer: Viewer,
    cursor: CursorParam,
    limit: Limit = DEFAULT_LIMIT,
) -> ThreadPage:
    """The person's Emails tab: threads with any of their addresses, newest first."""
    link = await _person_link(store, person_id, viewer)
    return await thread_page(store, index, link, (cursor, limit), viewer)


@router.get("/companies/{company_id}/threads", response_model=ThreadPage, responses=ERRORS)
async def company_threads(
    company_id: str,
    store: Store,
    index: Index,
    rosters: Rosters,
    viewer: Viewer,
    cursor: CursorParam,
    limit: Limit = DEFAULT_LIMIT,
) -> ThreadPage:
    """The company's Emails tab: threads with its domains or its people, newest first."""
    company = await _company(store, company_id, viewer)
    own = record_keys(company["workspace_id"], [], list(company.get("domains", [])))
    # The heads of its own domains are read while its people's addresses are.
    link, ahead = await asyncio.gather(
        _company_link(store, rosters, company), index.read_heads(own)
    )
    return await thread_page(store, index, link, (cursor, limit), viewer, ahead)


@router.get("/threads/{thread_id}", response_model=ThreadDetailView, responses=ERRORS)
async def get_thread(thread_id: str, store: Store, viewer: Viewer) -> ThreadDetailView:
    """The whole conversation, oldest message first, each as its visibility allows."""
    thread = await store.thread(thread_id)
    if thread is None or thread.workspace_id != viewer.workspace_id:
        raise HTTPException(404, f"no thread with id {thread_id}")
    messages = await store.thread_messages(thread_id, with_body=True)
    return redact_thread_detail(thread, messages, viewer.member_id)


@router.get("/people/{person_id}/events", response_model=EventPage, responses=ERRORS)
async def person_events(
    person_id: str,
    store: Store,
    viewer: Viewer,
    cursor: CursorParam,
    start_from: From = None,
    to: To = None,
    order: Order = "desc",
    limit: Limit = DEFAULT_LIMIT,
) -> EventPage:
    """The person's Calendar tab: meetings with any of their addresses."""
    link = await _person_link(store, person_id, viewer)
    return await event_page(store, link, (start_from, to), (cursor, limit, order == "desc"), viewer)


@router.get("/companies/{company_id}/events", response_model=EventPage, responses=ERRORS)
async def company_events(
    company_id: str,
    store: Store,
    rosters: Rosters,
    viewer: Viewer,
    cursor: CursorParam,
    start_from: From = None,
    to: To = None,
    order: Order = "desc",
    limit: Limit = DEFAULT_LIMIT,
) -> EventPage:
    """The company's Calendar tab: meetings with its domains or its people."""
    link = await _company_link(store, rosters, await _company(store, company_id, viewer))
    return await event_page(store, link, (start_from, to), (cursor, limit, order == "desc"), viewer)
