"""People and companies: by id, by address, by domain.

A person merged into another answers ``308 Permanent Redirect`` with ``Location`` set to
the survivor (and a problem+json body saying so): clients that follow redirects get the
survivor, the others learn where the person went.
"""

from typing import Annotated, TypeVar

from fastapi import APIRouter, HTTPException, Query

from crm_schemas.records import CompanyUpserted, PersonUpserted
from timeline_api.api.deps import Records, Viewer
from timeline_api.api.models import Company, CompanyPage, Person, PersonPage
from timeline_api.api.problems import problem_responses
from timeline_api.domain.access import Member

router = APIRouter(prefix="/v1", tags=["records"])
R = TypeVar("R", PersonUpserted, CompanyUpserted)


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
    viewer: Viewer,
    email: Annotated[
        str, Query(min_length=3, description="Any of the person's addresses, any case.")
    ],
) -> PersonPage:
    """The people of the workspace who have this address among theirs (merged ones left out)."""
    people = await records.people_by_email(email, viewer.workspace_id)
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
    viewer: Viewer,
    domain: Annotated[str, Query(min_length=1, description="One of the company's domains.")],
) -> CompanyPage:
    """The companies of the workspace that have this domain among theirs."""
    companies = await records.companies_by_domain(domain, viewer.workspace_id)
    return CompanyPage(items=[Company.of(c) for c in companies])
