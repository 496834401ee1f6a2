"""Linking a whole batch of items' participants to people and companies at once.

Per batch: the address and domain indexes are read in one query each, and the people
and companies they point at in one more; the records the policies allow are created in
one insert per collection. Per participant the rules are those of SPEC.md: no person
for internal, owner, role, robot or blocked addresses; a company only for a company
domain (not a personal provider's), reused when it exists.

A person auto-created without a display name (a calendar attendee with no CN, a bare
address in Cc) is named from the address; the first display name seen for them later
replaces that name, whichever of mail and calendar arrives first, and also when both
create the person at the same moment (the address-named copy stored first is renamed).
"""

from dataclasses import dataclass, field
from datetime import timedelta

from crm_schemas.base import utcnow
from crm_schemas.config import AccountConfigured, WorkspaceConfigured
from crm_schemas.ids import company_id, normalize_email, person_id
from crm_schemas.mail import Participant
from crm_schemas.records import CompanyUpserted, PersonUpserted
from enricher.adapters.records import Records, index_key
from enricher.rules.companies import (
    company_domain,
    company_name_from_domain,
    workspace_personal_domains,
)
from enricher.rules.creation import may_become_person, role_local_parts
from enricher.rules.names import better_name, name_in_header, person_name_from_header

Record = PersonUpserted | CompanyUpserted


@dataclass(frozen=True, slots=True)
class ToLink:
    """One item's participants, with the account that saw it and whether it may create."""

    account: AccountConfigured
    workspace: WorkspaceConfigured
    participants: tuple[Participant, ...]
    create: bool


@dataclass(slots=True)
class _Known:
    """People by address key and companies by domain key, and those made by this batch."""

    people: dict[str, PersonUpserted]
    companies: dict[str, CompanyUpserted]
    new_people: dict[str, PersonUpserted] = field(default_factory=dict)
    new_companies: dict[str, CompanyUpserted] = field(default_factory=dict)
    renamed: dict[str, PersonUpserted] = field(default_factory=dict)


def _domain(p: Participant, workspace: WorkspaceConfigured) -> str | None:
    if p.internal:
        return None
    personal = workspace_personal_domains(
        workspace.personal_domains_add, workspace.personal_domains_remove
    )
    return company_domain(p.email, frozenset(workspace.domains), personal)


def _plan(item: ToLink, known: _Known) -> None:
    """Decide which people and companies this item creates (recorded in ``known``)."""
    ws = item.workspace.workspace_id
    roles = role_local_parts(
        item.workspace.role_addresses_add, item.workspace.role_addresses_remove
    )
    for p in item.participants:
        domain = _domain(p, item.workspace)
        existing = known.people.get(index_key(ws, p.email))
        if existing is not None:
            _rename(existing, p, known)
            continue
        if not item.create:
            continue
        if not may_become_person(
            p, item.account.owner_addresses, roles=roles, blocklist=item.account.mail.blocklist
        ):
            continue
        company = known.companies.get(index_key(ws, domain)) if domain else None
        if domain is not None and company is None:
            company = CompanyUpserted(
                company_id=company_id(ws, domain),
                workspace_id=ws,
                name=company_name_from_domain(domain),
                domains=(domain,),
            )
            known.companies[index_key(ws, domain)] = company
            known.new_companies[company.company_id] = company
        person = PersonUpserted(
            person_id=person_id(ws, p.email),
            workspace_id=ws,
            name=person_name_from_header(p.name, p.email),
            name_from_address=not name_in_header(p.name),
            emails=(normalize_email(p.email),),
            company_id=company.company_id if company else None,
        )
        known.people[index_key(ws, p.email)] = person
        known.new_people[person.person_id] = person


def _renamed(person: PersonUpserted, display_name: str | None) -> PersonUpserted | None:
    """``person`` with the display name seen now, if it replaces theirs (``better_name``)."""
    name = better_name(person, display_name)
    if name is None:
        return None
    # Later than the stored version (Mongo keeps milliseconds), so every copy takes it.
    version = max(utcnow(), person.updated_at + timedelta(milliseconds=1))
    return person.model_copy(
        update={"name": name, "name_from_address": False, "updated_at": version}
    )


def _rename(person: PersonUpserted, p: Participant, known: _Known) -> None:
    """Give an auto-created person named from their address the display name seen now."""
    renamed = _renamed(person, p.name)
    if renamed is None:
        return
    known.people[index_key(person.workspace_id, p.email)] = renamed
    if person.person_id in known.new_people:
        known.new_people[person.person_id] = renamed
    else:
        known.renamed[person.person_id] = renamed


def _link(item: ToLink, known: _Known) -> tuple[tuple[Participant, ...], list[Record]]:
    """The item's participants linked to what is known now, and the records they link."""
    ws = item.workspace.workspace_id
    linked: list[Participant] = []
    records: list[Record] = []
    for p in item.participants:
        domain = _domain(p, item.workspace)
        person = known.people.get(index_key(ws, p.email))
        company = known.companies.get(index_key(ws, domain)) if domain else None
        linked.append(
            p.model_copy(
                update={
                    "person_id": person.person_id if person else p.person_id,
                    "company_id": (person.company_id if person else None)
                    or (company.company_id if company else None),
                    "company_domain": domain,
                }
            )
        )
        records += [r for r in (company, person) if r is not None]
    return tuple(linked), records


class Linker:
    """Links batches of items, creating what their policies allow, exactly once."""

    def __init__(self, records: Records) -> None:
        self._records = records

    async def link(
        self, items: list[ToLink]
    ) -> tuple[list[tuple[Participant, ...]], dict[str, Record]]:
        """Each item's linked participants, and every record they link to by id."""
        emails = {
            index_key(i.workspace.workspace_id, p.email) for i in items for p in i.participants
        }
        domains = {
            index_key(i.workspace.workspace_id, d)
            for i in items
            for p in i.participants
            if (d := _domain(p, i.workspace)) is not None
        }
        known = _Known(
            people=await self._records.people_by_keys(emails),
            companies=await self._records.companies_by_keys(domains),
        )
        for item in items:
            _plan(item, known)
        await self._create(known)
        linked: list[tuple[Participant, ...]] = []
        records: dict[str, Record] = {}
        for item in items:
            participants, found = _link(item, known)
            linked.append(participants)
            records.update((_record_id(r), r) for r in found)
        return linked, records

    async def _create(self, known: _Known) -> None:
        """Store the planned records; where another replica stored one first, use theirs."""
        stored_companies = await self._records.create_companies(list(known.new_companies.values()))
        for key, company in known.companies.items():
            known.companies[key] = stored_companies.get(company.company_id, company)
        stored_people = await self._records.create_people(list(known.new_people.values()))
        for planned in known.new_people.values():
            _rename_if_lost(planned, stored_people.get(planned.person_id), known)
        if known.renamed:
            stored_people |= await self._records.rename_people(list(known.renamed.values()))
        for key, person in known.people.items():
            known.people[key] = stored_people.get(person.person_id, person)


def _rename_if_lost(planned: PersonUpserted, stored: PersonUpserted | None, known: _Known) -> None:
    """Where a concurrent writer created this person first, named from the address (a
    meeting handled at the same moment as this mail, say), the display name this batch
    saw still names them."""
    if stored is None or planned.name_from_address:
        return
    renamed = _renamed(stored, planned.name)
    if renamed is not None:
        known.renamed[planned.person_id] = renamed


def _record_id(record: Record) -> str:
    return record.person_id if isinstance(record, PersonUpserted) else record.company_id
