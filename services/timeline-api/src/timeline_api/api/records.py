"""People and companies: by id, by address, by domain.

A person merged into another answers ``308 Permanent Redirect`` with ``Location`` set to
the survivor (and a problem+json body saying so): clients that follow redirects get the
survivor, the others learn where the person went.
"""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from timeline_api.api.deps import Store, Viewer, in_workspace
from timeline_api.api.models import Company, CompanyPage, Person, PersonPage
from timeline_api.api.problems import problem_responses

router = APIRouter(prefix="/v1", tags=["records"])


@router.get(
    "/people/{person_id}", response_model=Person, responses=problem_responses(308, 401, 404)
)
async def get_person(person_id: str, store: Store, viewer: Viewer) -> Person:
    """One person; 308 to the survivor when they were merged into another."""
    doc = in_workspace(await store.person(person_id), viewer, "person", person_id)
    if doc.get("merged_into"):
        target = doc["merged_into"]
        raise HTTPException(
            308,
            f"person {person_id} was merged into {target}",
            headers={"Location": f"/v1/people/{target}"},
        )
    return Person.from_doc(doc)


@router.get("/people", response_model=PersonPage, responses=problem_responses(401, 422))
async def find_people(
    store: Store,
    viewer: Viewer,
    email: Annotated[
        str, Query(min_length=3, description="Any of the person's addresses, any case.")
    ],
) -> PersonPage:
    """The people of the workspace who have this address among theirs (merged ones left out)."""
    docs = await store.people_by_email(email, viewer.workspace_id)
    return PersonPage(items=[Person.from_doc(d) for d in docs if not d.get("merged_into")])


@router.get(
    "/companies/{company_id}", response_model=Company, responses=problem_responses(401, 404)
)
async def get_company(company_id: str, store: Store, viewer: Viewer) -> Company:
    """One company."""
    doc = in_workspace(await store.company(company_id), viewer, "company", company_id)
    return Company.from_doc(doc)


@router.get("/companies", response_model=CompanyPage, responses=problem_responses(401, 422))
async def find_companies(
    store: Store,
    viewer: Viewer,
    domain: Annotated[str, Query(min_length=1, description="One of the company's domains.")],
) -> CompanyPage:
    """The companies of the workspace that have this domain among theirs."""
    docs = await store.companies_by_domain(domain, viewer.workspace_id)
    return CompanyPage(items=[Company.from_doc(d) for d in docs])
