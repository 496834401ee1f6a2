"""In-memory stand-ins for the records' and the accounts' ports, for fast tests of the use
cases; the timelines' is ``adapters.timelines.memory``."""

from collections.abc import Mapping
from typing import Any, TypeVar

from crm_schemas.base import to_milliseconds
from crm_schemas.ids import normalize_email
from crm_schemas.records import CompanyUpserted, OpportunityUpserted, PersonUpserted
from crm_schemas.sync import SyncKind, SyncStatusChanged
from timeline_api.domain.records import person_addresses
from timeline_api.domain.search import (
    Found,
    NameCursor,
    company_terms,
    matches,
    opportunity_terms,
    person_terms,
    sort_key,
)
from timeline_api.domain.sync_status import kept_status
from timeline_api.domain.web_session import SignInLink, WebSession

LOOKUP_LIMIT = 100


class InMemoryRecords:
    """People, companies and opportunities in dicts, each kept only if newer."""

    def __init__(self) -> None:
        self.people: dict[str, PersonUpserted] = {}
        self.companies: dict[str, CompanyUpserted] = {}
        self.opportunities: dict[str, OpportunityUpserted] = {}

    async def person(self, person_id: str) -> PersonUpserted | None:
        """A person, or None."""
        return self.people.get(person_id)

    async def company(self, company_id: str) -> CompanyUpserted | None:
        """A company, or None."""
        return self.companies.get(company_id)

    async def opportunity(self, opportunity_id: str) -> OpportunityUpserted | None:
        """An opportunity, or None."""
        return self.opportunities.get(opportunity_id)

    async def people_by_email(self, email: str, workspace_id: str) -> list[PersonUpserted]:
        """People with this address among theirs, any case."""
        address = normalize_email(email)
        found = [
            p
            for p in self.people.values()
            if p.workspace_id == workspace_id and address in p.emails
        ]
        return sorted(found, key=lambda p: p.person_id)[:LOOKUP_LIMIT]

    async def companies_by_domain(self, domain: str, workspace_id: str) -> list[CompanyUpserted]:
        """Companies with this domain among theirs."""
        wanted = domain.strip().lower()
        found = [
            c
            for c in self.companies.values()
            if c.workspace_id == workspace_id and wanted in c.domains
        ]
        return sorted(found, key=lambda c: c.company_id)[:LOOKUP_LIMIT]

    async def existing_records(self, people: list[str], companies: list[str]) -> set[str]:
        """Which of these person and company ids are stored."""
        return {p for p in people if p in self.people} | {
            c for c in companies if c in self.companies
        }

    async def search_people(
        self, workspace_id: str, query: tuple[str, ...], after: NameCursor | None, limit: int
    ) -> Found[PersonUpserted]:
        """People (merged ones left out) every word of the query finds, by name."""
        found = [
            (p.person_id, p.name, p)
            for p in self.people.values()
            if p.workspace_id == workspace_id
            and p.merged_into is None
            and matches(person_terms(p), query)
        ]
        return _page(found, after, limit)

    async def search_companies(
        self, workspace_id: str, query: tuple[str, ...], after: NameCursor | None, limit: int
    ) -> Found[CompanyUpserted]:
        """Companies every word of the query finds, by name."""
        found = [
            (c.company_id, c.name, c)
            for c in self.companies.values()
            if c.workspace_id == workspace_id and matches(company_terms(c), query)
        ]
        return _page(found, after, limit)

    async def search_opportunities(
        self, workspace_id: str, query: tuple[str, ...], after: NameCursor | None, limit: int
    ) -> Found[OpportunityUpserted]:
        """Opportunities every word of the query finds, by name."""
        found = [
            (o.opportunity_id, o.name, o)
            for o in self.opportunities.values()
            if o.workspace_id == workspace_id and matches(opportunity_terms(o), query)
        ]
        return _page(found, after, limit)

    def company_emails(self, workspace_id: str, company_id: str) -> list[str]:
        """Every address of every person of a company (for the in-memory timelines)."""
        people = sorted(self.people.values(), key=lambda p: p.person_id)
        found = [
            e
            for p in people
            if p.workspace_id == workspace_id and p.company_id == company_id
            for e in p.emails
        ]
        return list(dict.fromkeys(found))

    async def upsert_person(self, person: PersonUpserted) -> bool:
        """Keep a person's version, with normalised addresses, if newer."""
        stored = person.model_copy(update={"emails": tuple(person_addresses(person))})
        return _keep_newer(self.people, person.person_id, stored)

    async def upsert_company(self, company: CompanyUpserted) -> bool:
        """Keep a company's version, with lower-cased domains, if newer."""
        domains = tuple(dict.fromkeys(d.strip().lower() for d in company.domains))
        return _keep_newer(
            self.companies, company.company_id, company.model_copy(update={"domains": domains})
        )

    async def upsert_opportunity(self, opportunity: OpportunityUpserted) -> bool:
        """Keep an opportunity's version if newer."""
        return _keep_newer(self.opportunities, opportunity.opportunity_id, opportunity)


R = TypeVar("R", PersonUpserted, CompanyUpserted, OpportunityUpserted)


def _page(found: list[tuple[str, str, R]], after: NameCursor | None, limit: int) -> Found[R]:
    """One page of ``(id, name, record)`` results by sort key and id, after the cursor."""
    keyed = sorted(((sort_key(name), record_id), record) for record_id, name, record in found)
    if after is not None:
        keyed = [k for k in keyed if k[0] > (after.key, after.id)]
    items = [record for _, record in keyed[:limit]]
    if len(keyed) <= limit or not items:
        return Found(items)
    key, record_id = keyed[limit - 1][0]
    return Found(items, NameCursor(key, record_id))


def _keep_newer(kept: dict[str, R], record_id: str, record: R) -> bool:
    """Keep ``record`` unless a version at least as new is kept (compared to the
    millisecond, as a stored date keeps it)."""
    stored = kept.get(record_id)
    version = to_milliseconds(record.updated_at)
    if stored is not None and to_milliseconds(stored.updated_at) >= version:
        return False
    kept[record_id] = record.model_copy(update={"updated_at": version})
    return True


class InMemorySyncStatuses:
    """Each account's newest sync status per kind, by the same rule as the directory's."""

    def __init__(self) -> None:
        self.kept: dict[tuple[str, SyncKind], dict[str, Any]] = {}

    async def record_status(self, status: SyncStatusChanged) -> None:
        """Keep a report unless a newer one is kept already."""
        key = (status.account_id, status.kind)
        kept = kept_status(self.kept.get(key), status)
        if kept is not None:
            self.kept[key] = kept

    async def statuses(self, account_id: str) -> dict[SyncKind, Mapping[str, Any]]:
        """The newest status of each kind the account has reported."""
        return {kind: doc for (account, kind), doc in self.kept.items() if account == account_id}


class InMemorySignIns:
    """Sign-in links and web sessions in dicts, by digest."""

    def __init__(self) -> None:
        self.links: dict[str, SignInLink] = {}
        self.sessions: dict[str, WebSession] = {}

    async def save_link(self, digest: str, link: SignInLink) -> None:
        """Remember a sign-in link."""
        self.links[digest] = link

    async def take_link(self, digest: str) -> SignInLink | None:
        """The link of this digest, at most once."""
        return self.links.pop(digest, None)

    async def save_session(self, digest: str, session: WebSession) -> None:
        """Keep a session."""
        self.sessions[digest] = session

    async def session(self, digest: str) -> WebSession | None:
        """The session of this digest, or None."""
        return self.sessions.get(digest)

    async def end_session(self, digest: str) -> None:
        """Forget a session."""
        self.sessions.pop(digest, None)
