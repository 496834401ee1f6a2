"""People and companies the enricher created, in its own database.

Auto-created records get deterministic ids (from the workspace and the address or the
domain), so concurrent replicas racing on the same address upsert one document. Each
record is announced on the records topic; a record whose announcement may not have gone
out (a crash between the write and the publish) is announced again on the next delivery.

Lookups go by ``_id`` only (FerretDB 1.x pushes nothing else down to SQLite): an address
index and a domain index, keyed ``<workspace>:<address>`` and ``<workspace>:<domain>``,
point at the record that owns them. People and companies created or changed through the
timeline API's records API come in on the records topic and are kept here too (with the
index pointing at them), so auto-creation reuses them.
"""

import asyncio
from contextlib import suppress

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_runtime.mongo import Document, upsert_if_newer
from crm_schemas.ids import company_id, normalize_email, person_id
from crm_schemas.records import CompanyUpserted, PersonUpserted


def _index_key(workspace_id: str, value: str) -> str:
    return f"{workspace_id}:{value.strip().lower()}"


class Records:
    """The enricher's people and companies."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._people = db["people"]
        self._companies = db["companies"]
        self._emails = db["people_by_email"]
        self._domains = db["companies_by_domain"]

    async def person_by_email(self, workspace_id: str, email: str) -> PersonUpserted | None:
        """The person who has this address, if any."""
        entry = await self._emails.find_one({"_id": _index_key(workspace_id, email)})
        doc = await self._people.find_one({"_id": entry["record_id"]}) if entry else None
        return PersonUpserted.model_validate(doc) if doc else None

    async def company_by_domain(self, workspace_id: str, domain: str) -> CompanyUpserted | None:
        """The company that has this domain, if any."""
        entry = await self._domains.find_one({"_id": _index_key(workspace_id, domain)})
        doc = await self._companies.find_one({"_id": entry["record_id"]}) if entry else None
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
        stored = await self._insert_once(self._companies, company.company_id, company)
        await self._point(
            self._domains, workspace_id, company.domains, company.company_id, take=False
        )
        return CompanyUpserted.model_validate(stored)

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
            emails=(normalize_email(email),),
            company_id=company,
        )
        stored = await self._insert_once(self._people, person.person_id, person)
        await self._point(self._emails, workspace_id, person.emails, person.person_id, take=False)
        return PersonUpserted.model_validate(stored)

    async def apply_person(self, person: PersonUpserted) -> bool:
        """Keep a person's newest version from the records topic, and its addresses' index.

        Records created or changed through the records API (or merged there) arrive this
        way: the index then points each of their addresses at them, so auto-creation
        reuses a person created by hand instead of making a second one. Addresses the
        person no longer has stop pointing at them; a merged person's addresses point at
        the survivor. Older versions (a replay) change nothing. True when stored.
        """
        ws = person.workspace_id
        before = await self._people.find_one({"_id": person.person_id}, {"emails": 1})
        doc = person.model_dump(mode="python") | {"announced": True}
        if not await upsert_if_newer(self._people, person.person_id, doc, "updated_at"):
            return False
        owner = person.merged_into or person.person_id
        await self._point(self._emails, ws, person.emails, owner, take=True)
        dropped = set((before or {}).get("emails", [])) - set(person.emails)
        await self._release(self._emails, ws, dropped, person.person_id)
        return True

    async def apply_company(self, company: CompanyUpserted) -> bool:
        """Keep a company's newest version from the records topic, and its domains' index."""
        ws = company.workspace_id
        before = await self._companies.find_one({"_id": company.company_id}, {"domains": 1})
        doc = company.model_dump(mode="python") | {"announced": True}
        if not await upsert_if_newer(self._companies, company.company_id, doc, "updated_at"):
            return False
        await self._point(self._domains, ws, company.domains, company.company_id, take=True)
        dropped = set((before or {}).get("domains", [])) - set(company.domains)
        await self._release(self._domains, ws, dropped, company.company_id)
        return True

    async def _point(
        self,
        index: AsyncCollection[Document],
        workspace_id: str,
        values: tuple[str, ...],
        record_id: str,
        *,
        take: bool,
    ) -> None:
        """Point each value at this record: whoever had it (``take``: a records-topic
        version, the records API has decided), or only where nobody has it (auto-creation)."""
        entry = {"record_id": record_id, "workspace_id": workspace_id}
        update = {"$set": entry} if take else {"$setOnInsert": entry}
        for value in values:
            key = _index_key(workspace_id, value)
            try:
                await index.update_one({"_id": key}, update, upsert=True)
            except DuplicateKeyError:  # inserted meanwhile by another writer
                if take:
                    await index.update_one({"_id": key}, update)

    async def _release(
        self, index: AsyncCollection[Document], workspace_id: str, values: set[str], record_id: str
    ) -> None:
        """Forget the values a record gave up, unless they point elsewhere already."""
        for value in values:
            key = _index_key(workspace_id, value)
            entry = await index.find_one({"_id": key})
            if entry is not None and entry.get("record_id") == record_id:
                await index.delete_one({"_id": key})

    async def unannounced(self, record_ids: list[str]) -> list[str]:
        """Which of these records have not been announced on the records topic yet."""
        found = await asyncio.gather(
            *(
                collection.find_one({"_id": record_id}, {"announced": 1})
                for record_id in record_ids
                for collection in (self._people, self._companies)
            )
        )
        return [doc["_id"] for doc in found if doc is not None and not doc.get("announced")]

    async def mark_announced(self, record_ids: list[str]) -> None:
        """Remember that these records were published."""
        for record_id in record_ids:
            for collection in (self._people, self._companies):
                await collection.update_one({"_id": record_id}, {"$set": {"announced": True}})

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
