"""People, companies and opportunities as they are created, changed or merged."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from crm_schemas.base import Event, utcnow


class PersonUpserted(Event):
    """A person exists with these addresses (the first is the primary one)."""

    type: Literal["person"] = "person"
    schema_version: Literal[1] = 1
    person_id: str
    workspace_id: str
    name: str
    emails: tuple[str, ...] = Field(min_length=1)
    company_id: str | None = None
    created_by: Literal["auto", "api"] = "auto"
    name_from_address: bool = Field(
        default=False,
        description="The name was made from the address, for want of a display name; "
        "the first display name seen for the person replaces it.",
    )
    merged_into: str | None = Field(
        default=None,
        description="Set when this person was merged into another: its addresses now "
        "belong to that person, and this record only points there.",
    )
    updated_at: datetime = Field(default_factory=utcnow)


class CompanyUpserted(Event):
    """A company exists with these domains."""

    type: Literal["company"] = "company"
    schema_version: Literal[1] = 1
    company_id: str
    workspace_id: str
    name: str
    domains: tuple[str, ...]
    created_by: Literal["auto", "api"] = "auto"
    updated_at: datetime = Field(default_factory=utcnow)


class OpportunityUpserted(Event):
    """An opportunity exists, with its company and the people attached to it."""

    type: Literal["opportunity"] = "opportunity"
    schema_version: Literal[1] = 1
    opportunity_id: str
    workspace_id: str
    name: str
    company_id: str | None = None
    person_ids: tuple[str, ...] = ()
    created_by: Literal["auto", "api"] = "api"
    updated_at: datetime = Field(default_factory=utcnow)


RecordEvent = Annotated[
    PersonUpserted | CompanyUpserted | OpportunityUpserted, Field(discriminator="type")
]
