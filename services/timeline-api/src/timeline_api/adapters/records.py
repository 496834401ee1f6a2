"""People, companies and opportunities in MongoDB, each by its id (``ports.RecordStore``).

A version is kept only if it is newer than the one stored (``updated_at``), so a
redelivered or replayed older version never overwrites a newer one. Reads go by ``_id``,
except the lookups by address and by domain, which filter on an indexed field (a scan on
FerretDB, for a handful of requests).
"""

import asyncio

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document, upsert_if_newer
from crm_schemas.ids import normalize_email
from crm_schemas.records import CompanyUpserted, OpportunityUpserted, PersonUpserted
from timeline_api.domain.records import person_addresses

LOOKUP_LIMIT = 100
"""Records answered by an address or a domain lookup, at most."""


def person_from_doc(doc: Document) -> PersonUpserted:
    """A person as ``upsert_person`` stored them."""
    return PersonUpserted.model_validate(doc | {"person_id": doc["_id"]})


def company_from_doc(doc: Document) -> CompanyUpserted:
    """A company as ``upsert_company`` stored it."""
    return CompanyUpserted.model_validate(doc | {"company_id": doc["_id"]})


def _opportunity_from_doc(doc: Document) -> OpportunityUpserted:
    return OpportunityUpserted.model_validate(doc | {"opportunity_id": doc["_id"]})


class MongoRecords:
    """The ``people``, ``companies`` and ``opportunities`` collections."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.people: AsyncCollection[Document] = db["people"]
        self.companies: AsyncCollection[Document] = db["companies"]
        self.opportunities: AsyncCollection[Document] = db["opportunities"]

    # --- reads ----------------------------------------------------------------------------

    async def person(self, person_id: str) -> PersonUpserted | None:
        """A person, or None."""
        doc = await self.people.find_one({"_id": person_id})
        return person_from_doc(doc) if doc is not None else None

    async def company(self, company_id: str) -> CompanyUpserted | None:
        """A company, or None."""
        doc = await self.companies.find_one({"_id": company_id})
        return company_from_doc(doc) if doc is not None else None

    async def opportunity(self, opportunity_id: str) -> OpportunityUpserted | None:
        """An opportunity, or None."""
        doc = await self.opportunities.find_one({"_id": opportunity_id})
        return _opportunity_from_doc(doc) if doc is not None else None

    async def people_by_email(self, email: str, workspace_id: str) -> list[PersonUpserted]:
        """People with this address among theirs, compared case-insensitively."""
        query: Document = {"emails": normalize_email(email), "workspace_id": workspace_id}
        found = self.people.find(query).sort("_id", ASCENDING).limit(LOOKUP_LIMIT)
        return [person_from_doc(doc) async for doc in found]

    async def companies_by_domain(self, domain: str, workspace_id: str) -> list[CompanyUpserted]:
        """Companies with this domain among theirs."""
        query: Document = {"domains": domain.strip().lower(), "workspace_id": workspace_id}
        found = self.companies.find(query).sort("_id", ASCENDING).limit(LOOKUP_LIMIT)
        return [company_from_doc(doc) async for doc in found]

    async def existing_records(self, people: list[str], companies: list[str]) -> set[str]:
        """Which of these person and company ids are stored; one ``_id`` lookup each."""
        found = await asyncio.gather(
            *(self.people.find_one({"_id": i}, {"_id": 1}) for i in people),
            *(self.companies.find_one({"_id": i}, {"_id": 1}) for i in companies),
        )
        return {str(doc["_id"]) for doc in found if doc is not None}

    # --- writes ---------------------------------------------------------------------------

    async def upsert_person(self, person: PersonUpserted) -> bool:
        """Store a person's newest version, with normalised addresses. True when stored."""
        doc = person.model_dump(mode="json", exclude={"person_id"})
        doc["emails"] = person_addresses(person)
        doc["updated_at"] = person.updated_at
        return await upsert_if_newer(self.people, person.person_id, doc, "updated_at")

    async def upsert_company(self, company: CompanyUpserted) -> bool:
        """Store a company's newest version, with lower-cased domains. True when stored."""
        doc = company.model_dump(mode="json", exclude={"company_id"})
        doc["domains"] = list(dict.fromkeys(d.strip().lower() for d in company.domains))
        doc["updated_at"] = company.updated_at
        return await upsert_if_newer(self.companies, company.company_id, doc, "updated_at")

    async def upsert_opportunity(self, opportunity: OpportunityUpserted) -> bool:
        """Store an opportunity's newest version. True when stored."""
        doc = opportunity.model_dump(mode="json", exclude={"opportunity_id"})
        doc["updated_at"] = opportunity.updated_at
        return await upsert_if_newer(
            self.opportunities, opportunity.opportunity_id, doc, "updated_at"
        )
