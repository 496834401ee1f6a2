"""Opportunities: the records, and their Emails and Calendar tabs.

An opportunity's timeline is its company's (the company's domains and its people's
addresses) plus that of every person attached to it, in one query, so an item linked both
ways appears once, newest first, with the same keyset pagination as the other timelines.
"""

import asyncio

from fastapi import APIRouter, Response

from crm_runtime.mongo import Document
from timeline_api.api.deps import Index, Rosters, Store, Viewer
from timeline_api.api.models import EventPage, ThreadPage
from timeline_api.api.problems import problem_responses
from timeline_api.api.record_changes import WRITE_ERRORS, Writer
from timeline_api.api.record_models import Opportunity, OpportunityCreate, OpportunityUpdate
from timeline_api.api.timelines import (
    ERRORS,
    CursorParam,
    From,
    Limit,
    Order,
    To,
    company_people_emails,
    event_page,
    thread_page,
)
from timeline_api.domain.access import Member
from timeline_api.domain.pagination import DEFAULT_LIMIT
from timeline_api.record_writes import RecordWriter
from timeline_api.rosters import CompanyRosters
from timeline_api.store import TimelineStore, linked

router = APIRouter(prefix="/v1", tags=["opportunities"])
MAX_MERGE_HOPS = 5


@router.post("/opportunities", status_code=201, response_model=Opportunity, responses=WRITE_ERRORS)
async def create_opportunity(
    body: OpportunityCreate, writer: Writer, viewer: Viewer, response: Response
) -> Opportunity:
    """Create an opportunity for a company, with the people attached."""
    record = await writer.save_opportunity(viewer.workspace_id, body.model_dump(), None)
    response.headers["Location"] = f"/v1/opportunities/{record.opportunity_id}"
    return Opportunity.from_record(record)


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


async def _person_emails(store: TimelineStore, person_id: str) -> list[str]:
    """A person's addresses, following merges to the survivor."""
    for _ in range(MAX_MERGE_HOPS):
        doc = await store.person(person_id)
        if doc is None:
            return []
        if not doc.get("merged_into"):
            return list(doc.get("emails", []))
        person_id = doc["merged_into"]
    return []


async def _opportunity_link(
    writer: RecordWriter,
    store: TimelineStore,
    rosters: CompanyRosters,
    op_id: str,
    viewer: Member,
) -> Document:
    record = await writer.opportunity(op_id, viewer.workspace_id)
    people = await asyncio.gather(*(_person_emails(store, p) for p in record.person_ids))
    emails = [e for found in people for e in found]
    domains: list[str] = []
    company = await store.company(record.company_id) if record.company_id else None
    if company is not None:
        emails += await company_people_emails(store, rosters, company)
        domains = list(company.get("domains", []))
    return linked(record.workspace_id, list(dict.fromkeys(emails)), domains)


@router.get("/opportunities/{opportunity_id}/threads", response_model=ThreadPage, responses=ERRORS)
async def opportunity_threads(
    opportunity_id: str,
    store: Store,
    index: Index,
    rosters: Rosters,
    writer: Writer,
    viewer: Viewer,
    cursor: CursorParam,
    limit: Limit = DEFAULT_LIMIT,
) -> ThreadPage:
    """The opportunity's Emails tab: its company's threads and its people's, newest first."""
    link = await _opportunity_link(writer, store, rosters, opportunity_id, viewer)
    return await thread_page(store, index, link, (cursor, limit), viewer)


@router.get("/opportunities/{opportunity_id}/events", response_model=EventPage, responses=ERRORS)
async def opportunity_events(
    opportunity_id: str,
    store: Store,
    rosters: Rosters,
    writer: Writer,
    viewer: Viewer,
    cursor: CursorParam,
    start_from: From = None,
    to: To = None,
    order: Order = "desc",
    limit: Limit = DEFAULT_LIMIT,
) -> EventPage:
    """The opportunity's Calendar tab: its company's meetings and its people's."""
    link = await _opportunity_link(writer, store, rosters, opportunity_id, viewer)
    return await event_page(store, link, (start_from, to), (cursor, limit, order == "desc"), viewer)
