"""People and companies: by id, by address, by domain.

A person merged into another answers ``308 Permanent Redirect`` with ``Location`` set to
the survivor (and a problem+json body saying so): clients that follow redirects get the
survivor, the others learn where the person went.
"""

from collections.abc import Awaitable
from typing import Annotated, TypeVar

from fastapi import APIRouter, HTTPException, Query

from crm_schemas.records import CompanyUpserted, PersonUpserted
from timeline_api.api.deps import Records, Search, Viewer
from timeline_api.api.models import Company, CompanyPage, Person, PersonPage
from timeline_api.api.problems import invalid_input, problem_responses
from timeline_api.domain.access import Member
from timeline_api.domain.search import InvalidSearchError
from timeline_api.service.search import MAX_SEARCH_LIMIT, SEARCH_LIMIT, Results

router = APIRouter(prefix="/v1", tags=["records"])
R = TypeVar("R", PersonUpserted, CompanyUpserted)
T = TypeVar("T")

SearchQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=300,
        description="Search: each word starts a word of the name, an address or a domain.",
    ),
]
SearchCursor = Annotated[str | None, Query(description="The `next_cursor` of a search page.")]
SearchLimit = Annotated[int, Query(ge=1, le=MAX_SEARCH_LIMIT, description="Results a page.")]


def one_of(**given: object) -> None:
    """A 422 unless exactly one of the lookups is given."""
    if sum(value is not None for value in given.values()) != 1:
        names = " or ".join(given)
        raise invalid_input("query", next(iter(given)), f"give exactly one of {names}")


async def searched(found: Awaitable[Results[T]]) -> Results[T]:
    """A search page; an empty query or a foreign cursor is a 422."""
    try:
        return await found
    except InvalidSearchError as error:
        raise invalid_input("query", "q", str(error)) from error


def in_workspace(record: R | None, viewer: Member, what: str, record_id: str) -> R:
    """The record when it is in the viewer's workspace; else 404, as if it did not exist
    (another workspace's ids are not even confirmed to exist)."""
    if record is None or record.workspace_id != viewer.workspace_id:
        raise HTTPException(404, f"no {what} with id {record_id}")
    return record


@router.get(
    "/people/{person_id}", response_model=Person, responses=problem_responses(308, 401, 404)
)
async def get_person(person_id: str, records: Records, viewer: Viewer) -> Person:
    """One person; 308 to the survivor when they were merged into another."""
    person = in_workspace(await records.person(person_id), viewer, "person", person_id)
    if person.merged_into:
        target = person.merged_into
        raise HTTPException(
            308,
            f"person {person_id} was merged into {target}",
            headers={"Location": f"/v1/people/{target}"},
        )
    return Person.of(person)


@router.get("/people", response_model=PersonPage, responses=problem_responses(401, 422))
async def find_people(
    records: Records,
    search: Search,
    viewer: Viewer,
    email: Annotated[
        str | None, Query(min_length=3, description="Any of the person's addresses, any case.")
    ] = None,
    q: SearchQuery = None,
    cursor: SearchCursor = None,
    limit: SearchLimit = SEARCH_LIMIT,
) -> PersonPage:
    """The people of the workspace who have this address among theirs, or (``q``) whom
    every word of the query finds by name, address or domain, by name, a page at a time
    (merged ones left out)."""
    one_of(email=email, q=q)
    if q is not None:
        found = await searched(search.people(viewer.workspace_id, q, cursor, limit))
        return PersonPage(items=[Person.of(p) for p in found.items], next_cursor=found.next_cursor)
    people = await records.people_by_email(str(email), viewer.workspace_id)
    return PersonPage(items=[Person.of(p) for p in people if not p.merged_into])


@router.get(
    "/companies/{company_id}", response_model=Company, responses=problem_responses(401, 404)
)
async def get_company(company_id: str, records: Records, viewer: Viewer) -> Company:
    """One company."""
    return Company.of(
        in_workspace(await records.company(company_id), viewer, "company", company_id)
    )


@router.get("/companies", response_model=CompanyPage, responses=problem_responses(401, 422))
async def find_companies(
    records: Records,
    search: Search,
    viewer: Viewer,
    domain: Annotated[
        str | None, Query(min_length=1, description="One of the company's domains.")
    ] = None,
    q: SearchQuery = None,
    cursor: SearchCursor = None,
    limit: SearchLimit = SEARCH_LIMIT,
) -> CompanyPage:
    """The companies of the workspace that have this domain among theirs, or (``q``) whom
    every word of the query finds by name or domain, by name, a page at a time."""
    one_of(domain=domain, q=q)
    if q is not None:
        found = await searched(search.companies(viewer.workspace_id, q, cursor, limit))
        items = [Company.of(c) for c in found.items]
        return CompanyPage(items=items, next_cursor=found.next_cursor)
    companies = await records.companies_by_domain(str(domain), viewer.workspace_id)
    return CompanyPage(items=[Company.of(c) for c in companies])
