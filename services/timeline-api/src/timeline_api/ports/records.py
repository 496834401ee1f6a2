"""The records' ports: ``RecordReader`` and ``RecordStore`` read people, companies and
opportunities; ``RecordOwner`` asks their one writer (the enricher, docs/adr/0029) to
change them."""

from typing import Protocol

from crm_schemas.record_commands import ApiCommand, RecordOutcome
from crm_schemas.records import CompanyUpserted, OpportunityUpserted, PersonUpserted
from timeline_api.domain.search import Found, NameCursor


class RecordReader(Protocol):
    """People, companies and opportunities as the read model keeps them."""

    async def person(self, person_id: str) -> PersonUpserted | None:
        """A person, or None."""
        ...

    async def company(self, company_id: str) -> CompanyUpserted | None:
        """A company, or None."""
        ...

    async def opportunity(self, opportunity_id: str) -> OpportunityUpserted | None:
        """An opportunity, or None."""
        ...

    async def people_by_email(self, email: str, workspace_id: str) -> list[PersonUpserted]:
        """People with this address among theirs, any case."""
        ...

    async def companies_by_domain(self, domain: str, workspace_id: str) -> list[CompanyUpserted]:
        """Companies with this domain among theirs."""
        ...

    async def existing_records(self, people: list[str], companies: list[str]) -> set[str]:
        """Which of these person and company ids are stored."""
        ...

    async def search_people(
        self, workspace_id: str, query: tuple[str, ...], after: NameCursor | None, limit: int
    ) -> Found[PersonUpserted]:
        """People (merged ones left out) every word of ``query`` finds (``domain.search``),
        by name, a page after the cursor."""
        ...

    async def search_companies(
        self, workspace_id: str, query: tuple[str, ...], after: NameCursor | None, limit: int
    ) -> Found[CompanyUpserted]:
        """Companies every word of ``query`` finds, by name, a page after the cursor."""
        ...

    async def search_opportunities(
        self, workspace_id: str, query: tuple[str, ...], after: NameCursor | None, limit: int
    ) -> Found[OpportunityUpserted]:
        """Opportunities every word of ``query`` finds, by name, a page after the cursor."""
        ...


class RecordStore(RecordReader, Protocol):
    """The records, written only if newer than what is kept."""

    async def upsert_person(self, person: PersonUpserted) -> bool:
        """Keep a person's version, with normalised addresses, if newer; True when kept."""
        ...

    async def upsert_company(self, company: CompanyUpserted) -> bool:
        """Keep a company's version, with lower-cased domains, if newer; True when kept."""
        ...

    async def upsert_opportunity(self, opportunity: OpportunityUpserted) -> bool:
        """Keep an opportunity's version if newer; True when kept."""
        ...


class RecordOwner(Protocol):
    """The one writer of people and companies (the enricher, docs/adr/0029), asked: every
    change the records API makes is a command it applies in order, then answers."""

    async def ask(self, command: ApiCommand) -> RecordOutcome:
        """The writer's answer to the command; ``UnavailableError`` if none comes in time."""
        ...
