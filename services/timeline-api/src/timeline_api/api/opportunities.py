"""Opportunities: the records, and their Emails and Calendar tabs.

An opportunity's timeline is its company's (the company's domains and its people's
addresses) plus that of every person attached to it, as one timeline, so an item linked both
ways appears once, newest first, with the same keyset pagination as the other timelines
(``service.timelines``).
"""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from timeline_api.api.deps import Search, Timelines, Viewer
from timeline_api.api.models import EventPage, ThreadPage
from timeline_api.api.problems import problem_responses
from timeline_api.api.record_changes import WRITE_ERRORS, Writer
from timeline_api.api.record_models import (
    Opportunity,
    OpportunityCreate,
    OpportunityPage,
    OpportunityUpdate,
)
from timeline_api.api.records import SearchCursor, SearchLimit, searched
from timeline_api.api.timelines import (
    ERRORS,
    CursorParam,
    From,
    Limit,
    Order,
    To,
    event_page,
    thread_page,
    window,
)
from timeline_api.domain.pagination import DEFAULT_LIMIT
from timeline_api.domain.scope import PageRequest
from timeline_api.service.search import SEARCH_LIMIT

router = APIRouter(prefix="/v1", tags=["opportunities"])


@router.post("/opportunities", status_code=201, response_model=Opportunity, responses=WRITE_ERRORS)
async def create_opportunity(
    body: OpportunityCreate, writer: Writer, viewer: Viewer, response: Response
) -> Opportunity:
    """Create an opportunity for a company, with the people attached."""
    record = await writer.save_opportunity(viewer.workspace_id, body.model_dump(), None)
    response.headers["Location"] = f"/v1/opportunities/{record.opportunity_id}"
    return Opportunity.from_record(record)


@router.get("/opportunities", response_model=OpportunityPage, responses=problem_responses(401, 422))
async def find_opportunities(
    search: Search,
    viewer: Viewer,
    q: Annotated[
        str, Query(min_length=1, max_length=300, description="Words that start the name's.")
    ],
    cursor: SearchCursor = None,
    limit: SearchLimit = SEARCH_LIMIT,
) -> OpportunityPage:
    """The opportunities of the workspace whose name every word of the query starts a word
    of, by name, a page at a time."""
    found = await searched(search.opportunities(viewer.workspace_id, q, cursor, limit))
    items = [Opportunity.from_record(o) for o in found.items]
    return OpportunityPage(items=items, next_cursor=found.next_cursor)


@router.get(
    "/opportunities/{opportunity_id}",
    response_model=Opportunity,
    responses=problem_responses(401, 404),
)
async def get_opportunity(opportunity_id: str, writer: Writer, viewer: Viewer) -> Opportunity:
    """One opportunity."""
    return Opportunity.from_record(await writer.opportunity(opportunity_id, viewer.workspace_id))


@router.patch("/opportunities/{opportunity_id}", response_model=Opportunity, responses=WRITE_ERRORS)
async def update_opportunity(
    opportunity_id: str, body: OpportunityUpdate, writer: Writer, viewer: Viewer
) -> Opportunity:
    """Change an opportunity's name, company or people (``person_ids`` replaces them)."""
    current = await writer.opportunity(opportunity_id, viewer.workspace_id)
    changes = body.model_dump(exclude_unset=True)
    record = await writer.save_opportunity(current.workspace_id, changes, current)
    return Opportunity.from_record(record)


@router.get("/opportunities/{opportunity_id}/threads", response_model=ThreadPage, responses=ERRORS)
async def opportunity_threads(
    opportunity_id: str,
    timelines: Timelines,
    viewer: Viewer,
    cursor: CursorParam,
    limit: Limit = DEFAULT_LIMIT,
) -> ThreadPage:
    """The opportunity's Emails tab: its company's threads and its people's, newest first."""
    scope = await timelines.opportunity(opportunity_id, viewer.workspace_id)
    return thread_page(await timelines.threads(scope, PageRequest(cursor, limit)), viewer)


@router.get("/opportunities/{opportunity_id}/events", response_model=EventPage, responses=ERRORS)
async def opportunity_events(
    opportunity_id: str,
    timelines: Timelines,
    viewer: Viewer,
    cursor: CursorParam,
    start_from: From = None,
    to: To = None,
    order: Order = "desc",
    limit: Limit = DEFAULT_LIMIT,
) -> EventPage:
    """The opportunity's Calendar tab: its company's meetings and its people's."""
    scope = await timelines.opportunity(opportunity_id, viewer.workspace_id)
    page = PageRequest(cursor, limit)
    return event_page(await timelines.events(scope, window(start_from, to, order), page), viewer)
