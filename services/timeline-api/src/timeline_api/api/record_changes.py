"""Creating, changing and merging people and companies, so a CRM can own them.

Every change is made by the records' one writer, the enricher, which publishes it on the
records topic (``created_by="api"``); the answer comes once this API shows the change
(docs/adr/0029). An address or a domain that another record has answers 409; a merged
person answers 308 to the person it was merged into (see ``api/records.py``); 503 when
the writer did not answer in time.
"""

from typing import Annotated, cast

from fastapi import APIRouter, Depends, Request, Response

from timeline_api.api.deps import Viewer
from timeline_api.api.models import Company, Person
from timeline_api.api.problems import problem_responses
from timeline_api.api.record_models import (
    CompanyCreate,
    CompanyUpdate,
    MergeRequest,
    PersonCreate,
    PersonUpdate,
)
from timeline_api.service.records import RecordWriter

router = APIRouter(prefix="/v1", tags=["records"])
WRITE_ERRORS = problem_responses(401, 404, 409, 422)
ASKED_ERRORS = problem_responses(401, 404, 409, 422, 503)  # the enricher makes the change


def get_writer(request: Request) -> RecordWriter:
    """The records writer built at start-up."""
    return cast(RecordWriter, request.app.state.writer)


Writer = Annotated[RecordWriter, Depends(get_writer)]


@router.post("/people", status_code=201, response_model=Person, responses=ASKED_ERRORS)
async def create_person(
    body: PersonCreate, writer: Writer, viewer: Viewer, response: Response
) -> Person:
    """Create a person with addresses; their whole history shows on their timeline."""
    person = await writer.create_person(viewer.workspace_id, body.model_dump())
    response.headers["Location"] = f"/v1/people/{person.person_id}"
    return Person.of(person)


@router.patch("/people/{person_id}", response_model=Person, responses=ASKED_ERRORS)
async def update_person(
    person_id: str, body: PersonUpdate, writer: Writer, viewer: Viewer
) -> Person:
    """Change a person's name, addresses or company."""
    changes = body.model_dump(exclude_unset=True)
    person = await writer.update_person(person_id, viewer.workspace_id, changes)
    return Person.of(person)


@router.post("/people/{person_id}/merge", response_model=Person, responses=ASKED_ERRORS)
async def merge_person(
    person_id: str, body: MergeRequest, writer: Writer, viewer: Viewer
) -> Person:
    """Merge another person into this one: their addresses, and so their history, move
    here; the other person answers 308 to this one from now on."""
    person = await writer.merge_people(person_id, body.from_, viewer.workspace_id)
    return Person.of(person)


@router.post("/companies", status_code=201, response_model=Company, responses=ASKED_ERRORS)
async def create_company(
    body: CompanyCreate, writer: Writer, viewer: Viewer, response: Response
) -> Company:
    """Create a company with domains; auto-creation then reuses it for those domains."""
    company = await writer.create_company(viewer.workspace_id, body.model_dump())
    response.headers["Location"] = f"/v1/companies/{company.company_id}"
    return Company.of(company)


@router.patch("/companies/{company_id}", response_model=Company, responses=ASKED_ERRORS)
async def update_company(
    company_id: str, body: CompanyUpdate, writer: Writer, viewer: Viewer
) -> Company:
    """Change a company's name or domains."""
    changes = body.model_dump(exclude_unset=True)
    company = await writer.update_company(company_id, viewer.workspace_id, changes)
    return Company.of(company)
