"""Request and response bodies of the records API (people, companies, opportunities)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from timeline_api.domain.fields import Domain, Email, Id, Name

KEY = (
    "Your own key for the record: the record's id is made from it and your workspace, so"
    " creating it twice answers 409, and no key ever reaches another workspace's record."
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonCreate(_Body):
    """A person a CRM creates. Without ``id`` (a key of the client's) it gets the id
    auto-creation would give its primary address, so a person created by hand and one
    auto-created are the same."""

    name: Name
    emails: list[Email] = Field(min_length=1, description="The first is the primary.")
    company_id: Id | None = None
    id: Id | None = Field(default=None, description=KEY)


class PersonUpdate(_Body):
    """Fields to change; ``emails`` replaces every address (the first is the primary)."""

    name: Name | None = None
    emails: list[Email] | None = Field(default=None, min_length=1)
    company_id: Id | None = None


class MergeRequest(_Body):
    """The person to merge into this one."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Id = Field(alias="from", description="Id of the person whose addresses move here.")


class CompanyCreate(_Body):
    """A company a CRM creates. Without ``id`` (a key of the client's) it gets the id of
    its first domain."""

    name: Name
    domains: list[Domain] = Field(default_factory=list)
    id: Id | None = Field(default=None, description=KEY)


class CompanyUpdate(_Body):
    """Fields to change; ``domains`` replaces every domain."""

    name: Name | None = None
    domains: list[Domain] | None = None


class OpportunityCreate(_Body):
    """An opportunity: a name, its company, the people attached."""

    name: Name
    company_id: Id | None = None
    person_ids: list[Id] = Field(default_factory=list)
    id: Id | None = Field(default=None, description=KEY)


class OpportunityUpdate(_Body):
    """Fields to change; ``person_ids`` replaces the people attached."""

    name: Name | None = None
    company_id: Id | None = None
    person_ids: list[Id] | None = None


class Opportunity(BaseModel):
    """An opportunity of the CRM."""

    model_config = ConfigDict(frozen=True)

    id: str
    workspace_id: str
    name: str
    company_id: str | None = None
    person_ids: list[str] = Field(default_factory=list)
    updated_at: datetime | None = None

    @classmethod
    def from_record(cls, record: Any) -> "Opportunity":
        """From its event."""
        return cls.model_validate(record.model_dump() | {"id": record.opportunity_id})


class OpportunityPage(BaseModel):
    """Opportunities, one page; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[Opportunity]
    next_cursor: str | None = None
