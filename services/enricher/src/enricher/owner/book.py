"""The records a batch of commands reads and writes, as plain data (no I/O).

The records' writer loads a ``RecordBook`` with every person, company, address, domain
and remembered name its commands name, applies the commands to it one after the other
(``enricher.owner.commands``), then stores what changed and announces it. Being the only
writer of these documents (docs/adr/0029), it needs no transaction: what the book holds
is what is stored, until it stores the book.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from crm_schemas.ids import company_id, person_id
from crm_schemas.record_commands import (
    ChangeCompany,
    ChangePerson,
    CreateCompany,
    CreatePerson,
    MergePeople,
    PersonSeen,
    RecordCommand,
)
from crm_schemas.records import CompanyUpserted, PersonUpserted
from enricher.rules.ownership import Claim

Record = PersonUpserted | CompanyUpserted
RECENT_COMMANDS = 16
"""Command ids remembered per record, so a command delivered again is answered, not redone."""


def record_id(record: Record) -> str:
    """A person's or a company's id."""
    return record.person_id if isinstance(record, PersonUpserted) else record.company_id


def index_key(workspace_id: str, value: str) -> str:
    """The key of an address or a domain in its index: ``<workspace>:<value>``."""
    return f"{workspace_id}:{value.strip().lower()}"


@dataclass(frozen=True, slots=True)
class Wanted:
    """What a batch of commands names: record ids, and address, domain and name keys."""

    people: frozenset[str]
    companies: frozenset[str]
    addresses: frozenset[str]
    domains: frozenset[str]
    names: frozenset[str]


def wanted(commands: Iterable[RecordCommand]) -> Wanted:
    """Every id and key the commands name (the records' own addresses and domains, and
    the owners of what they name, are read after these)."""
    people: set[str] = set()
    companies: set[str] = set()
    addresses: set[str] = set()
    domains: set[str] = set()
    names: set[str] = set()
    for c in commands:
        ws = c.workspace_id
        if isinstance(c, PersonSeen):
            people.add(person_id(ws, c.email))
            addresses.add(index_key(ws, c.email))
            names.add(index_key(ws, c.email))
            if c.company_domain:
                companies.add(company_id(ws, c.company_domain))
                domains.add(index_key(ws, c.company_domain))
        elif isinstance(c, CreatePerson | ChangePerson):
            people.add(c.person_id)
            addresses.update(index_key(ws, e) for e in c.emails or ())
            if c.company_id:
                companies.add(c.company_id)
        elif isinstance(c, MergePeople):
            people.update((c.person_id, c.absorbed_id))
        elif isinstance(c, CreateCompany | ChangeCompany):
            companies.add(c.company_id)
            domains.update(index_key(ws, d) for d in c.domains or ())
    return Wanted(*(frozenset(s) for s in (people, companies, addresses, domains, names)))


@dataclass
class RecordBook:
    """People and companies by id, the address and domain indexes by key, and the first
    display name seen for addresses nobody has yet; with what changed since loading."""

    people: dict[str, PersonUpserted] = field(default_factory=dict)
    companies: dict[str, CompanyUpserted] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)
    domains: dict[str, str] = field(default_factory=dict)
    names_seen: dict[str, str] = field(default_factory=dict)
    announced: set[str] = field(default_factory=set)
    commands: dict[str, tuple[str, ...]] = field(default_factory=dict)
    stored: set[str] = field(default_factory=set)
    stored_keys: set[tuple[str, str]] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)
    touched: set[str] = field(default_factory=set)
    keys_changed: set[tuple[str, str]] = field(default_factory=set)

    # --- reads ----------------------------------------------------------------------------

    def person_with(self, workspace_id: str, email: str) -> PersonUpserted | None:
        """The person who has this address, if any."""
        owner = self.addresses.get(index_key(workspace_id, email))
        return self.people.get(owner) if owner else None

    def company_with(self, workspace_id: str, domain: str) -> CompanyUpserted | None:
        """The company that has this domain, if any."""
        owner = self.domains.get(index_key(workspace_id, domain))
        return self.companies.get(owner) if owner else None

    def claims(self, kind: str, workspace_id: str, values: Iterable[str]) -> list[Claim]:
        """Who owns each address (``kind`` person) or domain (company) now."""
        index = self.addresses if kind == "person" else self.domains
        claims = []
        for value in values:
            owner = index.get(index_key(workspace_id, value))
            gone = False
            if owner is not None and kind == "person":
                found = self.people.get(owner)
                gone = found is None or found.merged_into is not None
            claims.append(Claim(value, owner, gone))
        return claims

    def did(self, record_id: str, command_id: str) -> bool:
        """Whether this command was applied to the record already (delivered again)."""
        return command_id in self.commands.get(record_id, ())

    def record(self, record_id: str) -> Record | None:
        """A person or a company by id."""
        return self.people.get(record_id) or self.companies.get(record_id)

    # --- changes --------------------------------------------------------------------------

    def put_person(self, person: PersonUpserted, command_id: str | None = None) -> None:
        """A person's new version, to store and announce."""
        self.people[person.person_id] = person
        self._changed(person.person_id, command_id)

    def put_company(self, company: CompanyUpserted, command_id: str | None = None) -> None:
        """A company's new version, to store and announce."""
        self.companies[company.company_id] = company
        self._changed(company.company_id, command_id)

    def touch(self, record_id: str) -> None:
        """A record the batch is about: announced again if its last version was not."""
        self.touched.add(record_id)

    def point(self, kind: str, workspace_id: str, values: Iterable[str], record_id: str) -> None:
        """Give these addresses (``kind`` person) or domains (company) to a record."""
        index = self.addresses if kind == "person" else self.domains
        for value in values:
            key = index_key(workspace_id, value)
            index[key] = record_id
            self.keys_changed.add((kind, key))

    def release(self, kind: str, workspace_id: str, values: Iterable[str], record_id: str) -> None:
        """Forget the values a record gave up, unless they belong to another already."""
        index = self.addresses if kind == "person" else self.domains
        for value in values:
            key = index_key(workspace_id, value)
            if index.get(key) == record_id:
                del index[key]
                self.keys_changed.add((kind, key))

    def remember_name(self, workspace_id: str, email: str, name: str) -> None:
        """The first display name seen for an address nobody has yet."""
        key = index_key(workspace_id, email)
        self.names_seen[key] = name
        self.keys_changed.add(("name", key))

    def entries(self, kind: str) -> dict[str, dict[str, str] | None]:
        """What changed in the address index (``person``), the domain index (``company``)
        or the names remembered (``name``): each key's new document, None if let go."""
        values = {"person": self.addresses, "company": self.domains, "name": self.names_seen}
        field_name = "name" if kind == "name" else "record_id"
        return {
            key: {field_name: values[kind][key]} if key in values[kind] else None
            for k, key in self.keys_changed
            if k == kind
        }

    def to_announce(self) -> list[Record]:
        """Every version changed, and every record touched whose last version was not
        announced (a crash between storing and publishing it), by id."""
        ids = self.changed | {i for i in self.touched if i not in self.announced}
        return [r for i in sorted(ids) if (r := self.record(i)) is not None]

    def _changed(self, record_id: str, command_id: str | None) -> None:
        self.changed.add(record_id)
        self.touched.add(record_id)
        self.announced.discard(record_id)
        if command_id is not None:
            recent = (*self.commands.get(record_id, ()), command_id)
            self.commands[record_id] = recent[-RECENT_COMMANDS:]
