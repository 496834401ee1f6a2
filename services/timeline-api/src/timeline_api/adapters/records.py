"""People, companies and opportunities in MongoDB, each by its id (``ports.records.RecordStore``).

A version is kept only if it is newer than the one stored (``updated_at``), so a
redelivered or replayed older version never overwrites a newer one. Reads go by ``_id``,
except the lookups by address and by domain, and searches, which filter on indexed fields
(a scan on FerretDB, bounded in time: docs/adr/0025-web-app-sign-in-and-search.md).
Each record is stored with its search terms and sort key (``domain.search``).
"""

import asyncio
import re
from collections.abc import Callable
from typing import TypeVar

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ExecutionTimeout

from crm_runtime.mongo import Document, upsert_if_newer
from crm_schemas.ids import normalize_email
from crm_schemas.records import CompanyUpserted, OpportunityUpserted, PersonUpserted
from timeline_api.domain.records import person_addresses
from timeline_api.domain.search import (
    Found,
    NameCursor,
    SearchTooBroadError,
    company_terms,
    opportunity_terms,
    person_terms,
    sort_key,
)

LOOKUP_LIMIT = 100
"""Records answered by an address or a domain lookup, at most."""
SEARCH_TIME_LIMIT_MS = 5_000
"""How long one page of a search may take (FerretDB scans the collection for it)."""
SEARCH_MARK = "search_terms:1"
"""Marks a database whose records all carry their search terms."""
R = TypeVar("R", PersonUpserted, CompanyUpserted, OpportunityUpserted)
AnyRecord = PersonUpserted | CompanyUpserted | OpportunityUpserted


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
        self._marks: AsyncCollection[Document] = db["records_meta"]

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

    async def search_people(
        self, workspace_id: str, query: tuple[str, ...], after: NameCursor | None, limit: int
    ) -> Found[PersonUpserted]:
        """People (merged ones left out) whose terms every query word starts."""
        return await _search(self.people, person_from_doc, workspace_id, query, after, limit)

    async def search_companies(
        self, workspace_id: str, query: tuple[str, ...], after: NameCursor | None, limit: int
    ) -> Found[CompanyUpserted]:
        """Companies whose terms every query word starts."""
        return await _search(self.companies, company_from_doc, workspace_id, query, after, limit)

    async def search_opportunities(
        self, workspace_id: str, query: tuple[str, ...], after: NameCursor | None, limit: int
    ) -> Found[OpportunityUpserted]:
        """Opportunities whose name has words every query word starts."""
        return await _search(
            self.opportunities, _opportunity_from_doc, workspace_id, query, after, limit
        )

    async def index_search_terms(self) -> int:
        """Give every record stored before searches existed its terms, once per database
        (at start-up, before the consumers run); how many were given them."""
        if await self._marks.find_one({"_id": SEARCH_MARK}) is not None:
            return 0
        done = 0
        kinds: list[tuple[AsyncCollection[Document], Callable[[Document], AnyRecord]]] = [
            (self.people, person_from_doc),
            (self.companies, company_from_doc),
            (self.opportunities, _opportunity_from_doc),
        ]
        for collection, from_doc in kinds:
            async for doc in collection.find({"search_terms": {"$exists": False}}):
                fields = search_fields(from_doc(doc))
                await collection.update_one({"_id": doc["_id"]}, {"$set": fields})
                done += 1
        await self._marks.replace_one({"_id": SEARCH_MARK}, {"done": done}, upsert=True)
        return done

    # --- writes ---------------------------------------------------------------------------

    async def upsert_person(self, person: PersonUpserted) -> bool:
        """Store a person's newest version, with normalised addresses. True when stored."""
        doc = person.model_dump(mode="json", exclude={"person_id"})
        doc["emails"] = person_addresses(person)
        doc["updated_at"] = person.updated_at
        doc |= search_fields(person)
        return await upsert_if_newer(self.people, person.person_id, doc, "updated_at")

    async def upsert_company(self, company: CompanyUpserted) -> bool:
        """Store a company's newest version, with lower-cased domains. True when stored."""
        doc = company.model_dump(mode="json", exclude={"company_id"})
        doc["domains"] = list(dict.fromkeys(d.strip().lower() for d in company.domains))
        doc["updated_at"] = company.updated_at
        doc |= search_fields(company)
        return await upsert_if_newer(self.companies, company.company_id, doc, "updated_at")

    async def upsert_opportunity(self, opportunity: OpportunityUpserted) -> bool:
        """Store an opportunity's newest version. True when stored."""
        doc = opportunity.model_dump(mode="json", exclude={"opportunity_id"})
        doc["updated_at"] = opportunity.updated_at
        doc |= search_fields(opportunity)
        return await upsert_if_newer(
            self.opportunities, opportunity.opportunity_id, doc, "updated_at"
        )


def search_fields(record: AnyRecord) -> Document:
    """What a record is found and ordered by (``domain.search``)."""
    if isinstance(record, PersonUpserted):
        terms = person_terms(record)
    elif isinstance(record, CompanyUpserted):
        terms = company_terms(record)
    else:
        terms = opportunity_terms(record)
    return {"search_terms": terms, "sort_key": sort_key(record.name)}


async def _search(
    collection: AsyncCollection[Document],
    from_doc: Callable[[Document], R],
    workspace_id: str,
    query: tuple[str, ...],
    after: NameCursor | None,
    limit: int,
) -> Found[R]:
    """One page of a search: each query word anchors a regex on the terms (an index range
    on MongoDB), ordered by sort key and id, after the cursor; ``limit + 1`` rows tell
    whether there is more. Bounded in time: ``SearchTooBroadError`` past the limit."""
    conditions: list[Document] = [
        {"search_terms": {"$regex": f"^{re.escape(word)}"}} for word in query
    ]
    if after is not None:
        conditions.append(
            {
                "$or": [
                    {"sort_key": {"$gt": after.key}},
                    {"sort_key": after.key, "_id": {"$gt": after.id}},
                ]
            }
        )
    filter_: Document = {"workspace_id": workspace_id, "merged_into": None, "$and": conditions}
    found = (
        collection.find(filter_)
        .sort([("sort_key", ASCENDING), ("_id", ASCENDING)])
        .limit(limit + 1)
        .max_time_ms(SEARCH_TIME_LIMIT_MS)
    )
    try:
        docs = [doc async for doc in found]
    except ExecutionTimeout as error:
        raise SearchTooBroadError(
            "this search took too long: try again, or search for a whole address or domain"
        ) from error
    items = [from_doc(doc) for doc in docs[:limit]]
    more = len(docs) > limit and bool(items)
    last = docs[limit - 1] if more else None
    return Found(items, NameCursor(last["sort_key"], str(last["_id"])) if last else None)
