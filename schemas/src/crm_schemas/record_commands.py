"""What others ask of the records' one writer, and what it answers (docs/adr/0029).

The enricher is the only writer of people and companies. The enricher's own handlers of
mail and meetings tell it who they saw (``PersonSeen``); the records API asks it to
create, change or merge (the other commands) and waits for its ``RecordOutcome``. Every
command travels on ``Topics.record_commands`` keyed by its workspace, so one consumer
applies a workspace's commands one after the other: an address is given to one person,
and a change made by hand is never overtaken by a copy older than it.
"""

from typing import Annotated, Literal

from pydantic import Field

from crm_schemas.base import Event
from crm_schemas.records import CompanyUpserted, PersonUpserted


class PersonSeen(Event):
    """A participant of a message or a meeting: a person to create, if the item may create
    people and nobody has the address, and a name to give them, if it is better than
    theirs (no command id: nobody waits for the answer)."""

    type: Literal["person_seen"] = "person_seen"
    schema_version: Literal[1] = 1
    workspace_id: str
    email: str = Field(description="Normalised (lower-cased) address.")
    display_name: str | None = Field(
        default=None, description="The usable name in the header, cleaned; None when none."
    )
    create: bool = Field(
        default=False,
        description="The item may create this person (the account's contact creation says "
        "so and the address may become a person).",
    )
    company_domain: str | None = Field(
        default=None,
        description="The domain of the person's company under the workspace's rules; None "
        "for a personal provider.",
    )


class _ApiCommand(Event):
    schema_version: Literal[1] = 1
    command_id: str = Field(description="Unique; the outcome carries it back.")
    workspace_id: str = Field(
        description="The caller's workspace: another's records are as if they did not exist."
    )


class CreatePerson(_ApiCommand):
    """A person made by hand (``created_by="api"``), with the id the API chose."""

    type: Literal["create_person"] = "create_person"
    person_id: str
    name: str
    emails: tuple[str, ...] = Field(min_length=1)
    company_id: str | None = None


class ChangePerson(_ApiCommand):
    """Some fields of a person changed by hand; ``emails`` replaces every address."""

    type: Literal["change_person"] = "change_person"
    person_id: str
    name: str | None = None
    emails: tuple[str, ...] | None = None
    change_company: bool = Field(default=False, description="Set ``company_id`` (even None).")
    company_id: str | None = None


class MergePeople(_ApiCommand):
    """Move another person's addresses to this one; the other points here from then on."""

    type: Literal["merge_people"] = "merge_people"
    person_id: str
    absorbed_id: str


class CreateCompany(_ApiCommand):
    """A company made by hand, with the id the API chose."""

    type: Literal["create_company"] = "create_company"
    company_id: str
    name: str
    domains: tuple[str, ...] = ()


class ChangeCompany(_ApiCommand):
    """Some fields of a company changed by hand; ``domains`` replaces every domain."""

    type: Literal["change_company"] = "change_company"
    company_id: str
    name: str | None = None
    domains: tuple[str, ...] | None = None


ApiCommand = CreatePerson | ChangePerson | MergePeople | CreateCompany | ChangeCompany
RecordCommand = Annotated[PersonSeen | ApiCommand, Field(discriminator="type")]
Record = Annotated[PersonUpserted | CompanyUpserted, Field(discriminator="type")]


class RecordOutcome(Event):
    """What became of a command of the records API, keyed by its command id."""

    type: Literal["record_outcome"] = "record_outcome"
    schema_version: Literal[1] = 1
    command_id: str
    workspace_id: str
    status: Literal["done", "not_found", "conflict", "invalid"]
    detail: str = Field(default="", description="Why, in words, when not done.")
    field_name: str | None = Field(default=None, description="invalid: the input at fault.")
    owner_id: str | None = Field(default=None, description="conflict: the record in the way.")
    records: tuple[Record, ...] = Field(
        default=(),
        description="done: every record the command wrote, as stored, the one it names "
        "first (a merge: the survivor, then the person merged into it).",
    )
