"""The Emails and Calendar tabs of people and companies, and a whole conversation.

A tab names its record; ``service.timelines`` makes it a scope and asks the read model
for the page, whichever read model the deployment runs.
"""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query

from timeline_api.api.deps import Threads, Timelines, Viewer
from timeline_api.api.models import EventPage, ThreadPage
from timeline_api.api.problems import invalid_input, problem_responses
from timeline_api.domain.access import Member
from timeline_api.domain.model import StoredEvent, ThreadSummary
from timeline_api.domain.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Cursor,
    InvalidCursorError,
    decode_cursor,
    encode_cursor,
)
from timeline_api.domain.scope import Page, PageRequest, Window
from timeline_api.domain.views import ThreadDetailView
from timeline_api.domain.visibility import redact_event, redact_thread, redact_thread_detail

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


def window(start_from: datetime | None, to: datetime | None, order: str) -> Window:
    """The meetings a Calendar tab asks for."""
    return Window(start_from, to, newest_first=order == "desc")


def thread_page(page: Page[ThreadSummary], viewer: Member) -> ThreadPage:
    """A page of threads as the viewer may see them."""
    return ThreadPage(
        items=[redact_thread(t, viewer.member_id) for t in page.items],
        next_cursor=encode_cursor(page.next) if page.next else None,
    )


def event_page(page: Page[StoredEvent], viewer: Member) -> EventPage:
    """A page of meetings as the viewer may see them."""
    return EventPage(
        items=[redact_event(e, viewer.member_id) for e in page.items],
        next_cursor=encode_cursor(page.next) if page.next else None,
    )


@router.get("/people/{person_id}/threads", response_model=ThreadPage, responses=ERRORS)
async def person_threads(
    person_id: str,
    timelines: Timelines,
    viewer: Viewer,
    cursor: CursorParam,
    limit: Limit = DEFAULT_LIMIT,
) -> ThreadPage:
    """The person's Emails tab: threads with any of their addresses, newest first."""
    scope = await timelines.person(person_id, viewer.workspace_id)
    return thread_page(await timelines.threads(scope, PageRequest(cursor, limit)), viewer)


@router.get("/companies/{company_id}/threads", response_model=ThreadPage, responses=ERRORS)
async def company_threads(
    company_id: str,
    timelines: Timelines,
    viewer: Viewer,
    cursor: CursorParam,
    limit: Limit = DEFAULT_LIMIT,
) -> ThreadPage:
    """The company's Emails tab: threads with its domains or its people, newest first."""
    scope = await timelines.company(company_id, viewer.workspace_id)
    return thread_page(await timelines.threads(scope, PageRequest(cursor, limit)), viewer)


@router.get("/threads/{thread_id}", response_model=ThreadDetailView, responses=ERRORS)
async def get_thread(thread_id: str, threads: Threads, viewer: Viewer) -> ThreadDetailView:
    """The whole conversation, oldest message first, each as its visibility allows."""
    thread = await threads.thread(thread_id)
    if thread is None or thread.workspace_id != viewer.workspace_id:
        raise HTTPException(404, f"no thread with id {thread_id}")
    messages = await threads.thread_messages(thread_id, with_body=True)
    return redact_thread_detail(thread, messages, viewer.member_id)


@router.get("/people/{person_id}/events", response_model=EventPage, responses=ERRORS)
async def person_events(
    person_id: str,
    timelines: Timelines,
    viewer: Viewer,
    cursor: CursorParam,
    start_from: From = None,
    to: To = None,
    order: Order = "desc",
    limit: Limit = DEFAULT_LIMIT,
) -> EventPage:
    """The person's Calendar tab: meetings with any of their addresses."""
    scope = await timelines.person(person_id, viewer.workspace_id)
    page = PageRequest(cursor, limit)
    return event_page(await timelines.events(scope, window(start_from, to, order), page), viewer)


@router.get("/companies/{company_id}/events", response_model=EventPage, responses=ERRORS)
async def company_events(
    company_id: str,
    timelines: Timelines,
    viewer: Viewer,
    cursor: CursorParam,
    start_from: From = None,
    to: To = None,
    order: Order = "desc",
    limit: Limit = DEFAULT_LIMIT,
) -> EventPage:
    """The company's Calendar tab: meetings with its domains or its people."""
    scope = await timelines.company(company_id, viewer.workspace_id)
    page = PageRequest(cursor, limit)
    return event_page(await timelines.events(scope, window(start_from, to, order), page), viewer)
