"""Response models of the API, so the OpenAPI document says what comes back."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from crm_schemas.records import CompanyUpserted, PersonUpserted
from timeline_api.domain.views import EventView, ThreadView


class Person(BaseModel):
    """A person of the CRM, with every address they are linked by."""

    model_config = ConfigDict(frozen=True)

    id: str
    workspace_id: str
    name: str
    emails: list[str] = Field(description="Normalised addresses; the first is the primary.")
    company_id: str | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, person: PersonUpserted) -> "Person":
        """From the person's record."""
        return cls.model_validate(person.model_dump() | {"id": person.person_id})


class Company(BaseModel):
    """A company of the CRM, with every domain it is linked by."""

    model_config = ConfigDict(frozen=True)

    id: str
    workspace_id: str
    name: str
    domains: list[str]
    updated_at: datetime | None = None

    @classmethod
    def of(cls, company: CompanyUpserted) -> "Company":
        """From the company's record."""
        return cls.model_validate(company.model_dump() | {"id": company.company_id})


class PersonPage(BaseModel):
    """People, one page."""

    items: list[Person]
    next_cursor: str | None = None


class CompanyPage(BaseModel):
    """Companies, one page."""

    items: list[Company]
    next_cursor: str | None = None


class ThreadPage(BaseModel):
    """Threads newest first, one page; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[ThreadView]
    next_cursor: str | None = None


class EventPage(BaseModel):
    """Meetings, one page; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[EventView]
    next_cursor: str | None = None


class Health(BaseModel):
    """The service answers and its database does."""

    status: str
