"""People and companies the enricher created, in its own database.

Auto-created records get deterministic ids (from the workspace and the address or the
domain), so concurrent replicas racing on the same address upsert one document. Each
record is announced on the records topic; a record whose announcement may not have gone
out (a crash between the write and the publish) is announced again on the next delivery.
"""

from contextlib import suppress

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_runtime.mongo import Document
from crm_schemas.ids import company_id, person_id
from crm_schemas.records import CompanyUpserted, PersonUpserted


class Records:
    """The enricher's people and companies."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._people = db["people"]
        self._companies = db["companies"]

    async def create_indexes(self) -> None:
        """Indexes for lookups by address and by domain."""
        await self._people.create_index([("workspace_id", ASCENDING), ("emails", ASCENDING)])
        await self._companies.create_index([("workspace_id", ASCENDING), ("domains", ASCENDING)])

    async def person_by_email(self, workspace_id: str, email: str) -> PersonUpserted | None:
        """The person who has this address, if any."""
        doc = await self._people.find_one({"workspace_id": workspace_id, "emails": email})
        return PersonUpserted.model_validate(doc) if doc else None

    async def company_by_domain(self, workspace_id: str, domain: str) -> CompanyUpserted | None:
        """The company that has this domain, if any."""
        doc = await self._companies.find_one({"workspace_id": workspace_id, "domains": domain})
        return CompanyUpserted.model_validate(doc) if doc else None

    async def ensure_company(self, workspace_id: str, domain: str, name: str) -> CompanyUpserted:
        """The company of a domain, created once if there is none."""
        found = await self.company_by_domain(workspace_id, domain)
        if found is not None:
            return found
        company = CompanyUpserted(
            company_id=company_id(workspace_id, domain),
            workspace_id=workspace_id,
            name=name,
            domains=(domain,),
        )
        return CompanyUpserted.model_validate(
            await self._insert_once(self._companies, company.company_id, company)
        )

    async def ensure_person(
        self, workspace_id: str, email: str, name: str, company: str | None
    ) -> PersonUpserted:
        """The person with an address, created once if there is none."""
        found = await self.person_by_email(workspace_id, email)
        if found is not None:
            return found
        person = PersonUpserted(
            person_id=person_id(workspace_id, email),
            workspace_id=workspace_id,
            name=name,
            emails=(email,),
            company_id=company,
        )
        return PersonUpserted.model_validate(
            await self._insert_once(self._people, person.person_id, person)
        )

    async def unannounced(self, record_ids: list[str]) -> list[str]:
        """Which of these records have not been announced on the records topic yet."""
        ids: list[str] = []
        for collection in (self._people, self._companies):
            cursor = collection.find({"_id": {"$in": record_ids}, "announced": False}, {"_id": 1})
            ids.extend([doc["_id"] async for doc in cursor])
        return ids

    async def mark_announced(self, record_ids: list[str]) -> None:
        """Remember that these records were published."""
        for collection in (self._people, self._companies):
            await collection.update_many(
                {"_id": {"$in": record_ids}}, {"$set": {"announced": True}}
            )

    async def _insert_once(
        self,
        collection: AsyncCollection[Document],
        record_id: str,
        record: PersonUpserted | CompanyUpserted,
    ) -> Document:
        doc = record.model_dump(mode="python") | {"announced": False}
        # A duplicate key means another replica inserted the same record first: read theirs.
        with suppress(DuplicateKeyError):
            await collection.update_one({"_id": record_id}, {"$setOnInsert": doc}, upsert=True)
        stored: Document | None = await collection.find_one({"_id": record_id})
        if stored is None:
            raise RuntimeError(f"record {record_id} vanished right after its upsert")
        return stored
