"""The records API's use cases: people, companies and opportunities a CRM owns.

People and companies have one writer, the enricher (docs/adr/0029): every change asked
here is sent to it as a command (``ports.records.RecordOwner``), keyed by the workspace, and its
answer decides the response: done, or refused (404, 409, 422). A change is answered only
once this API's read model shows it (its projection, the only writer of that read model,
stores every version the enricher announces), so a read right after sees it. Opportunities
are this API's own: stored by ``_id`` (only if newer), then published on the records topic.

A client may create a record under a key of its own (``id`` in the request): the
record's id is made from that key and the workspace (``crm_schemas.ids.keyed_record_id``),
so creating it twice answers 409, and a key that is another workspace's record id
creates a record of the caller's like any other key: no answer tells that it exists.
"""

import asyncio
import uuid
from typing import Any

from crm_schemas.ids import company_id as company_id_for
from crm_schemas.ids import keyed_record_id
from crm_schemas.ids import person_id as person_id_for
from crm_schemas.record_commands import (
    ApiCommand,
    ChangeCompany,
    ChangePerson,
    CreateCompany,
    CreatePerson,
    MergePeople,
)
from crm_schemas.records import CompanyUpserted, OpportunityUpserted, PersonUpserted
from timeline_api.domain.ownership import (
    ConflictError,
    InvalidError,
    NotFoundError,
    next_version,
    normalized_domains,
    normalized_emails,
)
from timeline_api.ports.common import Publish
from timeline_api.ports.records import RecordOwner, RecordStore

SHOWN_POLL_S = 0.02
"""How often a change's answer looks whether the read model shows it yet."""


class RecordWriter:
    """Asks the records' writer for changes of people and companies; keeps opportunities."""

    def __init__(
        self, records: RecordStore, owner: RecordOwner, publish: Publish, wait_s: float = 10.0
    ) -> None:
        self._records = records
        self._owner = owner
        self._publish = publish
        self._wait_s = wait_s

    # --- reads by id ------------------------------------------------------------------

    async def person(self, person_id: str, workspace_id: str) -> PersonUpserted:
        """A person of the workspace, or NotFoundError (also when in another workspace)."""
        person = await self._records.person(person_id)
        if person is None or person.workspace_id != workspace_id:
            raise NotFoundError(f"no person with id {person_id}")
        return person

    async def company(self, company_id: str, workspace_id: str) -> CompanyUpserted:
        """A company of the workspace, or NotFoundError (also when in another workspace)."""
        company = await self._records.company(company_id)
        if company is None or company.workspace_id != workspace_id:
            raise NotFoundError(f"no company with id {company_id}")
        return company

    async def opportunity(self, opportunity_id: str, workspace_id: str) -> OpportunityUpserted:
        """An opportunity of the workspace, or NotFoundError (also when in another one)."""
        opportunity = await self._records.opportunity(opportunity_id)
        if opportunity is None or opportunity.workspace_id != workspace_id:
            raise NotFoundError(f"no opportunity with id {opportunity_id}")
        return opportunity

    # --- people -----------------------------------------------------------------------

    async def create_person(self, workspace_id: str, fields: dict[str, Any]) -> PersonUpserted:
        """A new person; its id is made from the client's key (``id``) when it gives one,
        else it is the one auto-creation would use."""
        emails = normalized_emails(fields["emails"])
        if not emails:
            raise InvalidError("emails", "a person needs at least one address")
        command = CreatePerson(
            command_id=_command_id(),
            workspace_id=workspace_id,
            person_id=(
                keyed_record_id("person", workspace_id, key)
                if (key := fields.get("id"))
                else person_id_for(workspace_id, emails[0])
            ),
            name=fields["name"],
            emails=emails,
            company_id=fields.get("company_id"),
        )
        return _person(await self._ask(command))

    async def update_person(
        self, person_id: str, workspace_id: str, changes: dict[str, Any]
    ) -> PersonUpserted:
        """A person with some fields changed; ``emails`` replaces the list of addresses;
        a name typed here is never replaced by one seen on mail."""
        emails = changes.get("emails")
        command = ChangePerson(
            command_id=_command_id(),
            workspace_id=workspace_id,
            person_id=person_id,
            name=changes.get("name"),
            emails=normalized_emails(emails) if emails is not None else None,
            change_company="company_id" in changes,
            company_id=changes.get("company_id"),
        )
        return _person(await self._ask(command))

    async def merge_people(
        self, survivor_id: str, absorbed_id: str, workspace_id: str
    ) -> PersonUpserted:
        """Move another person's addresses to this one; the other points here from now on."""
        command = MergePeople(
            command_id=_command_id(),
            workspace_id=workspace_id,
            person_id=survivor_id,
            absorbed_id=absorbed_id,
        )
        return _person(await self._ask(command))

    # --- companies --------------------------------------------------------------------

    async def create_company(self, workspace_id: str, fields: dict[str, Any]) -> CompanyUpserted:
        """A new company; its id is made from the client's key (``id``) when it gives one,
        else from its first domain."""
        domains = normalized_domains(fields.get("domains") or ())
        key = fields.get("id")
        if key:
            record_id = keyed_record_id("company", workspace_id, key)
        else:
            record_id = company_id_for(workspace_id, domains[0]) if domains else str(uuid.uuid4())
        command = CreateCompany(
            command_id=_command_id(),
            workspace_id=workspace_id,
            company_id=record_id,
            name=fields["name"],
            domains=domains,
        )
        return _company(await self._ask(command))

    async def update_company(
        self, company_id: str, workspace_id: str, changes: dict[str, Any]
    ) -> CompanyUpserted:
        """A company with some fields changed; ``domains`` replaces the list of domains."""
        domains = changes.get("domains")
        command = ChangeCompany(
            command_id=_command_id(),
            workspace_id=workspace_id,
            company_id=company_id,
            name=changes.get("name"),
            domains=normalized_domains(domains) if domains is not None else None,
        )
        return _company(await self._ask(command))

    # --- asking the writer ------------------------------------------------------------

    async def _ask(self, command: ApiCommand) -> tuple[PersonUpserted | CompanyUpserted, ...]:
        """The records the writer stored for the command, once the read model shows them;
        its refusal as an error."""
        outcome = await self._owner.ask(command)
        if outcome.status == "not_found":
            raise NotFoundError(outcome.detail)
        if outcome.status == "conflict":
            raise ConflictError(outcome.detail, outcome.owner_id)
        if outcome.status == "invalid":
            raise InvalidError(outcome.field_name or "body", outcome.detail)
        await self._shown(outcome.records)
        return outcome.records

    async def _shown(self, records: tuple[PersonUpserted | CompanyUpserted, ...]) -> None:
        """Until the read model shows these versions, at most the configured time (then
        the answer goes anyway: the change is made, and the read model follows)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_s
        for record in records:
            while loop.time() < deadline:
                stored = await (
                    self._records.person(record.person_id)
                    if isinstance(record, PersonUpserted)
                    else self._records.company(record.company_id)
                )
                if stored is not None and stored.updated_at >= record.updated_at:
                    break
                await asyncio.sleep(SHOWN_POLL_S)

    # --- opportunities ----------------------------------------------------------------

    async def _check_company(self, workspace_id: str, company_id: str | None) -> None:
        if company_id is None:
            return
        try:
            await self.company(company_id, workspace_id)
        except NotFoundError as missing:
            raise InvalidError("company_id", str(missing)) from missing

    async def save_opportunity(
        self, workspace_id: str, fields: dict[str, Any], current: OpportunityUpserted | None
    ) -> OpportunityUpserted:
        """Create (``current`` None) or change an opportunity, its references checked."""
        if current is None:
            key = fields.get("id")
            record_id = (
                keyed_record_id("opportunity", workspace_id, key) if key else str(uuid.uuid4())
            )
            if await self._records.opportunity(record_id) is not None:
                raise ConflictError(f"opportunity {record_id} exists already", record_id)
            current = OpportunityUpserted(
                opportunity_id=record_id, workspace_id=workspace_id, name=fields["name"]
            )
        update = {k: v for k, v in fields.items() if k in ("name", "company_id", "person_ids")}
        if update.get("name") is None:
            update.pop("name", None)
        await self._check_company(workspace_id, update.get("company_id"))
        for person_id in update.get("person_ids") or ():
            try:
                await self.person(person_id, workspace_id)
            except NotFoundError as missing:
                raise InvalidError("person_ids", str(missing)) from missing
        if "person_ids" in update:
            update["person_ids"] = tuple(dict.fromkeys(update["person_ids"] or ()))
        update["updated_at"] = next_version(current.updated_at)
        opportunity = current.model_copy(update=update)
        await self._records.upsert_opportunity(opportunity)
        await self._publish(opportunity.opportunity_id, opportunity)
        return opportunity


def _command_id() -> str:
    return uuid.uuid4().hex


def _person(records: tuple[PersonUpserted | CompanyUpserted, ...]) -> PersonUpserted:
    """The person a command was about (the first record its answer carries)."""
    person = records[0]
    if not isinstance(person, PersonUpserted):
        raise TypeError(f"expected a person, the records' writer answered {person!r}")
    return person


def _company(records: tuple[PersonUpserted | CompanyUpserted, ...]) -> CompanyUpserted:
    """The company a command was about."""
    company = records[0]
    if not isinstance(company, CompanyUpserted):
        raise TypeError(f"expected a company, the records' writer answered {company!r}")
    return company
