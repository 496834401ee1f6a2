"""What each command does to the records: the rules of auto-creation and of the records
API's changes, applied to a ``RecordBook`` one command after the other (no I/O).

``apply`` is the one entry: a person seen on mail or a meeting is created once (with the
best name seen so far) or renamed if the name seen is better (``PersonSeen``, nobody
waits for an answer); a change asked by the records API is done or refused, and answered
with a ``RecordOutcome``. Applied in the order a workspace's commands were sent, so a
name typed by hand is never overtaken by a name the enricher computed from an older copy.
"""

from collections.abc import Callable
from typing import Any

from crm_schemas.ids import company_id, person_id
from crm_schemas.record_commands import (
    ApiCommand,
    ChangeCompany,
    ChangePerson,
    CreateCompany,
    CreatePerson,
    MergePeople,
    PersonSeen,
    RecordCommand,
    RecordOutcome,
)
from crm_schemas.records import CompanyUpserted, PersonUpserted
from enricher.owner.book import Record, RecordBook, index_key, record_id
from enricher.rules.companies import company_name_from_domain
from enricher.rules.names import better_name, new_person_name, remembered_name
from enricher.rules.ownership import (
    Refused,
    conflicting,
    domains_of,
    emails_of,
    invalid,
    merged_pair,
    next_version,
    taken,
)


def apply(book: RecordBook, command: RecordCommand) -> RecordOutcome | None:
    """Apply one command to the book; the answer to a records API command (None for a
    person seen, whom nobody waits for)."""
    if isinstance(command, PersonSeen):
        see_person(book, command)
        return None
    target = _target(command)
    if book.did(target, command.command_id):  # delivered again: answer as the first time
        records = _current(book, command)
        for record in records:  # and announce what a crash may have kept from announcing
            book.touch(record_id(record))
        return _done(command, records)
    try:
        records = _API[type(command)](book, command)
    except Refused as refused:
        return RecordOutcome(
            command_id=command.command_id,
            workspace_id=command.workspace_id,
            status=refused.status,
            detail=refused.detail,
            field_name=refused.field_name,
            owner_id=refused.owner_id,
        )
    return _done(command, records)


# --- people seen on mail and meetings --------------------------------------------------------


def see_person(book: RecordBook, seen: PersonSeen) -> None:
    """Create the person once if the item may, named with the best name seen so far;
    else rename them if the name seen now is better, or remember it for later."""
    ws = seen.workspace_id
    person = book.person_with(ws, seen.email)
    if person is not None:
        if person.company_id is not None:
            book.touch(person.company_id)
        name = better_name(person, seen.display_name)
        if name is None:
            book.touch(person.person_id)
            return
        update = {"name": name, "name_from_address": False}
        book.put_person(
            person.model_copy(update=update | {"updated_at": next_version(person.updated_at)})
        )
        return
    key_name = book.names_seen.get(index_key(ws, seen.email))
    if not seen.create:
        name = remembered_name(key_name, seen.display_name)
        if name is not None:
            book.remember_name(ws, seen.email, name)
        return
    new_id = person_id(ws, seen.email)
    if new_id in book.people:  # that person gave this address up by hand: leave it so
        book.touch(new_id)
        return
    company = _company_for(book, ws, seen.company_domain)
    name, from_address = new_person_name(seen.display_name, key_name, seen.email)
    created = PersonUpserted(
        person_id=new_id,
        workspace_id=ws,
        name=name,
        name_from_address=from_address,
        emails=(seen.email,),
        company_id=company.company_id if company else None,
        updated_at=next_version(None),
    )
    book.put_person(created)
    book.point("person", ws, created.emails, new_id)


def _company_for(book: RecordBook, ws: str, domain: str | None) -> CompanyUpserted | None:
    """The company of a new person's domain: the one that has it, else a new one."""
    if domain is None:
        return None
    found = book.company_with(ws, domain) or book.companies.get(company_id(ws, domain))
    if found is not None:
        book.touch(found.company_id)
        return found
    company = CompanyUpserted(
        company_id=company_id(ws, domain),
        workspace_id=ws,
        name=company_name_from_domain(domain),
        domains=(domain,),
        updated_at=next_version(None),
    )
    book.put_company(company)
    book.point("company", ws, company.domains, company.company_id)
    return company


# --- the records API's people ----------------------------------------------------------------


def create_person(book: RecordBook, c: CreatePerson) -> tuple[Record, ...]:
    """A person made by hand, with addresses nobody else has."""
    emails = emails_of(c.emails)
    if not emails:
        raise invalid("emails", "a person needs at least one address")
    if c.person_id in book.people:
        raise _exists("person", c.person_id)
    _check_company(book, c.workspace_id, c.company_id)
    person = PersonUpserted(
        person_id=c.person_id,
        workspace_id=c.workspace_id,
        name=c.name,
        emails=emails,
        company_id=c.company_id,
        created_by="api",
        updated_at=next_version(None),
    )
    _save_person(book, person, (), c.command_id)
    return (person,)


def change_person(book: RecordBook, c: ChangePerson) -> tuple[Record, ...]:
    """A person with some fields changed by hand; a name typed is never replaced after."""
    current = _person(book, c.workspace_id, c.person_id)
    if current.merged_into is not None:
        raise invalid("id", f"person {c.person_id} was merged: change the survivor")
    update: dict[str, Any] = {"updated_at": next_version(current.updated_at)}
    if c.emails is not None:
        update["emails"] = emails_of(c.emails)
        if not update["emails"]:
            raise invalid("emails", "a person needs at least one address")
    if c.name is not None:
        update |= {"name": c.name, "name_from_address": False}
    if c.change_company:
        _check_company(book, c.workspace_id, c.company_id)
        update["company_id"] = c.company_id
    person = current.model_copy(update=update)
    _save_person(book, person, current.emails, c.command_id)
    return (person,)


def merge_people(book: RecordBook, c: MergePeople) -> tuple[Record, ...]:
    """Another person's addresses move to this one; the other points here from now on."""
    survivor = _person(book, c.workspace_id, c.person_id)
    if survivor.merged_into is not None:
        raise invalid("id", f"person {c.person_id} was merged itself")
    absorbed = book.people.get(c.absorbed_id)
    if absorbed is None or absorbed.workspace_id != c.workspace_id:
        raise invalid("from", f"no person with id {c.absorbed_id}")
    at = next_version(max(survivor.updated_at, absorbed.updated_at))
    kept, gone = merged_pair(survivor, absorbed, at)
    _save_person(book, kept, survivor.emails, c.command_id, absorbing=absorbed.person_id)
    book.put_person(gone, c.command_id)
    return kept, gone


def _save_person(
    book: RecordBook,
    person: PersonUpserted,
    previous: tuple[str, ...],
    command_id: str,
    absorbing: str | None = None,
) -> None:
    ws = person.workspace_id
    clash = conflicting(book.claims("person", ws, person.emails), person.person_id, absorbing)
    if clash is not None:
        raise taken(clash, "person")
    book.point("person", ws, person.emails, person.person_id)
    book.release("person", ws, set(previous) - set(person.emails), person.person_id)
    book.put_person(person, command_id)


# --- the records API's companies -------------------------------------------------------------


def create_company(book: RecordBook, c: CreateCompany) -> tuple[Record, ...]:
    """A company made by hand, with domains no other company has."""
    if c.company_id in book.companies:
        raise _exists("company", c.company_id)
    company = CompanyUpserted(
        company_id=c.company_id,
        workspace_id=c.workspace_id,
        name=c.name,
        domains=domains_of(c.domains),
        created_by="api",
        updated_at=next_version(None),
    )
    _save_company(book, company, (), c.command_id)
    return (company,)


def change_company(book: RecordBook, c: ChangeCompany) -> tuple[Record, ...]:
    """A company with its name or domains changed by hand."""
    current = _company(book, c.workspace_id, c.company_id)
    update: dict[str, Any] = {"updated_at": next_version(current.updated_at)}
    if c.name is not None:
        update["name"] = c.name
    if c.domains is not None:
        update["domains"] = domains_of(c.domains)
    company = current.model_copy(update=update)
    _save_company(book, company, current.domains, c.command_id)
    return (company,)


def _save_company(
    book: RecordBook, company: CompanyUpserted, previous: tuple[str, ...], command_id: str
) -> None:
    ws = company.workspace_id
    clash = conflicting(book.claims("company", ws, company.domains), company.company_id)
    if clash is not None:
        raise taken(clash, "company")
    book.point("company", ws, company.domains, company.company_id)
    book.release("company", ws, set(previous) - set(company.domains), company.company_id)
    book.put_company(company, command_id)


# --- lookups and answers ---------------------------------------------------------------------


def _person(book: RecordBook, ws: str, record_id: str) -> PersonUpserted:
    person = book.people.get(record_id)
    if person is None or person.workspace_id != ws:
        raise Refused("not_found", f"no person with id {record_id}")
    return person


def _company(book: RecordBook, ws: str, record_id: str) -> CompanyUpserted:
    company = book.companies.get(record_id)
    if company is None or company.workspace_id != ws:
        raise Refused("not_found", f"no company with id {record_id}")
    return company


def _check_company(book: RecordBook, ws: str, record_id: str | None) -> None:
    if record_id is None:
        return
    try:
        _company(book, ws, record_id)
    except Refused as missing:
        raise invalid("company_id", missing.detail) from missing


def _exists(what: str, record_id: str) -> Refused:
    return Refused("conflict", f"{what} {record_id} exists already: update it", owner_id=record_id)


def _target(command: ApiCommand) -> str:
    """The record a command is about (a merge: the survivor)."""
    if isinstance(command, CreateCompany | ChangeCompany):
        return command.company_id
    return command.person_id


def _current(book: RecordBook, command: ApiCommand) -> tuple[Record, ...]:
    ids = [_target(command)]
    if isinstance(command, MergePeople):
        ids.append(command.absorbed_id)
    return tuple(r for i in ids if (r := book.record(i)) is not None)


def _done(command: ApiCommand, records: tuple[Record, ...]) -> RecordOutcome:
    return RecordOutcome(
        command_id=command.command_id,
        workspace_id=command.workspace_id,
        status="done",
        records=records,
    )


_API: dict[type[Any], Callable[[RecordBook, Any], tuple[Record, ...]]] = {
    CreatePerson: create_person,
    ChangePerson: change_person,
    MergePeople: merge_people,
    CreateCompany: create_company,
    ChangeCompany: change_company,
}
