"""The records API's use cases: people, companies and opportunities a CRM owns.

Each change is stored in the API's own database by ``_id`` (only if newer), then
published on the records topic keyed by the record's id, so the enricher, the matcher and
this API's own projection all see it. Who owns an address or a domain is asked of
``ports.AddressOwners``: an address that another live person has is refused (409) rather
than shared. The projection fills the same owners for records the enricher creates,
without taking an address away from its owner.

A client may create a record under a key of its own (``id`` in the request): the
record's id is made from that key and the workspace (``crm_schemas.ids.keyed_record_id``),
so creating it twice answers 409, and a key that is another workspace's record id
creates a record of the caller's like any other key: no answer tells that it exists.

Known limit: an address given by hand while the enricher is creating a person for it at
the same moment (before that person reached this API) can end up on two people; merge
them to fix it.
"""

import uuid
from typing import Any

from crm_schemas.ids import company_id as company_id_for
from crm_schemas.ids import keyed_record_id
from crm_schemas.ids import person_id as person_id_for
from crm_schemas.records import CompanyUpserted, OpportunityUpserted, PersonUpserted
from timeline_api.domain.ownership import (
    ConflictError,
    InvalidError,
    NotFoundError,
    conflicting,
    merged_pair,
    next_version,
    normalized_domains,
    normalized_emails,
)
from timeline_api.ports import AddressOwners, Publish, RecordStore


class RecordWriter:
    """Creates, changes and merges records, storing and publishing every change."""

    def __init__(self, records: RecordStore, owners: AddressOwners, publish: Publish) -> None:
        self._records = records
        self._owners = owners
        self._publish = publish

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
        key = fields.get("id")
        record_id = (
            keyed_record_id("person", workspace_id, key)
            if key
            else person_id_for(workspace_id, emails[0])
        )
        if await self._records.person(record_id) is not None:
            raise ConflictError(f"person {record_id} exists already: update it", record_id)
        await self._check_company(workspace_id, fields.get("company_id"))
        person = PersonUpserted(
            person_id=record_id,
            workspace_id=workspace_id,
            name=fields["name"],
            emails=emails,
            company_id=fields.get("company_id"),
            created_by="api",
            updated_at=next_version(None),
        )
        await self._save_person(person, previous=())
        return person

    async def update_person(
        self, person_id: str, workspace_id: str, changes: dict[str, Any]
    ) -> PersonUpserted:
        """A person with some fields changed; ``emails`` replaces the list of addresses."""
        current = await self.person(person_id, workspace_id)
        if current.merged_into is not None:
            raise InvalidError("id", f"person {person_id} was merged: change the survivor")
        update: dict[str, Any] = {"updated_at": next_version(current.updated_at)}
        if "emails" in changes:
            update["emails"] = normalized_emails(changes["emails"])
            if not update["emails"]:
                raise InvalidError("emails", "a person needs at least one address")
        if changes.get("name") is not None:
            update["name"] = changes["name"]
            update["name_from_address"] = False  # a name given by hand is never replaced
        if "company_id" in changes:
            await self._check_company(current.workspace_id, changes["company_id"])
            update["company_id"] = changes["company_id"]
        person = current.model_copy(update=update)
        await self._save_person(person, previous=current.emails)
        return person

    async def merge_people(
        self, survivor_id: str, absorbed_id: str, workspace_id: str
    ) -> PersonUpserted:
        """Move another person's addresses to this one; the other points here from now on."""
        survivor = await self.person(survivor_id, workspace_id)
        if survivor.merged_into is not None:
            raise InvalidError("id", f"person {survivor_id} was merged itself")
        try:
            absorbed = await self.person(absorbed_id, survivor.workspace_id)
        except NotFoundError as missing:
            raise InvalidError("from", str(missing)) from missing
        at = next_version(max(survivor.updated_at, absorbed.updated_at))
        kept, gone = merged_pair(survivor, absorbed, at)
        await self._records.upsert_person(gone)
        # The absorbed person's addresses are free for the survivor whatever the read model
        # shows of the merge yet: the records projection may be writing that person now.
        await self._save_person(kept, previous=survivor.emails, absorbing=absorbed.person_id)
        await self._publish(gone.person_id, gone)
        return kept

    async def _save_person(
        self, person: PersonUpserted, previous: tuple[str, ...], absorbing: str | None = None
    ) -> None:
        ws = person.workspace_id
        claims = await self._owners.claims("person", ws, person.emails)
        clash = conflicting(claims, person.person_id, absorbing)
        if clash is not None:
            raise ConflictError(
                f"address {clash.value} belongs to person {clash.owner_id}: "
                "change or merge that person instead",
                clash.owner_id,
            )
        await self._owners.point("person", ws, person.emails, person.person_id, take=True)
        await self._owners.release(
            "person", ws, set(previous) - set(person.emails), person.person_id
        )
        await self._records.upsert_person(person)
        await self._publish(person.person_id, person)

    async def _check_company(self, workspace_id: str, company_id: str | None) -> None:
        if company_id is None:
            return
        try:
            await self.company(company_id, workspace_id)
        except NotFoundError as missing:
            raise InvalidError("company_id", str(missing)) from missing

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
        if await self._records.company(record_id) is not None:
            raise ConflictError(f"company {record_id} exists already: update it", record_id)
        company = CompanyUpserted(
            company_id=record_id,
            workspace_id=workspace_id,
            name=fields["name"],
            domains=domains,
            created_by="api",
            updated_at=next_version(None),
        )
        await self._save_company(company, previous=())
        return company

    async def update_company(
        self, company_id: str, workspace_id: str, changes: dict[str, Any]
    ) -> CompanyUpserted:
        """A company with some fields changed; ``domains`` replaces the list of domains."""
        current = await self.company(company_id, workspace_id)
        update: dict[str, Any] = {"updated_at": next_version(current.updated_at)}
        if changes.get("name") is not None:
            update["name"] = changes["name"]
        if changes.get("domains") is not None:
            update["domains"] = normalized_domains(changes["domains"])
        company = current.model_copy(update=update)
        await self._save_company(company, previous=current.domains)
        return company

    async def _save_company(self, company: CompanyUpserted, previous: tuple[str, ...]) -> None:
        ws = company.workspace_id
        claims = await self._owners.claims("company", ws, company.domains)
        clash = conflicting(claims, company.company_id)
        if clash is not None:
            raise ConflictError(
                f"domain {clash.value} belongs to company {clash.owner_id}", clash.owner_id
            )
        await self._owners.point("company", ws, company.domains, company.company_id, take=True)
        gone = set(previous) - set(company.domains)
        await self._owners.release("company", ws, gone, company.company_id)
        await self._records.upsert_company(company)
        await self._publish(company.company_id, company)

    # --- opportunities ----------------------------------------------------------------

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
