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

from collections.abc import Iterable
from contextlib import suppress
from typing import TypeVar

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_runtime.mongo import Document, find_by_ids, insert_new, upsert_if_newer
from crm_schemas.ids import company_id, normalize_email, person_id
from crm_schemas.records import CompanyUpserted, PersonUpserted

R = TypeVar("R", PersonUpserted, CompanyUpserted)


def index_key(workspace_id: str, value: str) -> str:
    """The key of an address or a domain in its index: ``<workspace>:<value>``."""
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
        entry = await self._emails.find_one({"_id": index_key(workspace_id, email)})
        doc = await self._people.find_one({"_id": entry["record_id"]}) if entry else None
        return PersonUpserted.model_validate(doc) if doc else None

    async def company_by_domain(self, workspace_id: str, domain: str) -> CompanyUpserted | None:
        """The company that has this domain, if any."""
        entry = await self._domains.find_one({"_id": index_key(workspace_id, domain)})
        doc = await self._companies.find_one({"_id": entry["record_id"]}) if entry else None
        return CompanyUpserted.model_validate(doc) if doc else None

    async def people_by_keys(self, keys: Iterable[str]) -> dict[str, PersonUpserted]:
        """The people who have these addresses (``index_key``s), by key; two queries."""
        return await self._resolve(self._emails, self._people, keys, PersonUpserted)

    async def companies_by_keys(self, keys: Iterable[str]) -> dict[str, CompanyUpserted]:
        """The companies that have these domains (``index_key``s), by key; two queries."""
        return await self._resolve(self._domains, self._companies, keys, CompanyUpserted)

    async def _resolve(
        self,
        index: AsyncCollection[Document],
        records: AsyncCollection[Document],
        keys: Iterable[str],
        model: type[R],
    ) -> dict[str, R]:
        entries = await find_by_ids(index, keys)
        if not entries:
            return {}
        docs = await find_by_ids(records, {e["record_id"] for e in entries.values()})
        return {
            key: model.model_validate(docs[entry["record_id"]])
            for key, entry in entries.items()
            if entry["record_id"] in docs
        }

    async def create_companies(
        self, companies: list[CompanyUpserted]
    ) -> dict[str, CompanyUpserted]:
        """Store new companies, each once, and index their domains where free; returns
        every one as stored (another replica's where it was first)."""
        stored = await self._insert_all(self._companies, {c.company_id: c for c in companies})
        await self._point_all(
            self._domains, [(c.workspace_id, c.domains, c.company_id) for c in companies]
        )
        return {i: CompanyUpserted.model_validate(d) for i, d in stored.items()}

    async def create_people(self, people: list[PersonUpserted]) -> dict[str, PersonUpserted]:
        """Store new people, each once, and index their addresses where free; returns
        every one as stored (another replica's where it was first)."""
        stored = await self._insert_all(self._people, {p.person_id: p for p in people})
        await self._point_all(
            self._emails, [(p.workspace_id, p.emails, p.person_id) for p in people]
        )
        return {i: PersonUpserted.model_validate(d) for i, d in stored.items()}

    async def rename_people(self, people: list[PersonUpserted]) -> dict[str, PersonUpserted]:
        """Give people named from their address the name they were seen with, unless they
        have a better one already (another replica's, or the records API's); returns each
        as stored, to be announced."""
        renames = [
            UpdateOne(
                {"_id": p.person_id, "name_from_address": True},
                {
                    "$set": {
                        "name": p.name,
                        "name_from_address": False,
                        "updated_at": p.updated_at,
                        "announced": False,
                    }
                },
            )
            for p in people
        ]
        await self._people.bulk_write(renames, ordered=False)
        stored = await find_by_ids(self._people, [p.person_id for p in people])
        return {i: PersonUpserted.model_validate(d) for i, d in stored.items()}

    async def _insert_all(
        self,
        collection: AsyncCollection[Document],
        records: dict[str, PersonUpserted | CompanyUpserted],
    ) -> dict[str, Document]:
        docs = [
            r.model_dump(mode="python") | {"_id": i, "announced": False} for i, r in records.items()
        ]
        taken = await insert_new(collection, docs)
        stored = {str(d["_id"]): d for d in docs if d["_id"] not in taken}
        return stored | (await find_by_ids(collection, taken) if taken else {})

    async def _point_all(
        self, index: AsyncCollection[Document], owners: list[tuple[str, tuple[str, ...], str]]
    ) -> None:
        """Point each value at its record where nobody has it yet (auto-creation)."""
        entries = {
            index_key(ws, value): {
                "_id": index_key(ws, value),
                "record_id": record,
                "workspace_id": ws,
            }
            for ws, values, record in owners
            for value in values
        }
        await insert_new(index, list(entries.values()))

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
            key = index_key(workspace_id, value)
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
            key = index_key(workspace_id, value)
            entry = await index.find_one({"_id": key})
            if entry is not None and entry.get("record_id") == record_id:
                await index.delete_one({"_id": key})

    async def unannounced(self, record_ids: list[str]) -> list[str]:
        """Which of these records have not been announced on the records topic yet."""
        pending: list[str] = []
        for collection in (self._people, self._companies):
            found = await find_by_ids(collection, record_ids, {"announced": 1})
            pending += [i for i, doc in found.items() if not doc.get("announced")]
        return pending

    async def mark_announced(self, record_ids: list[str], people: set[str] | None = None) -> None:
        """Remember that these records were published (``people``: which of them are
        people, so each update goes only to its own collection: every update is a
        transaction of its own on FerretDB)."""
        for collection, ids in (
            (self._people, [i for i in record_ids if people is None or i in people]),
            (self._companies, [i for i in record_ids if people is None or i not in people]),
        ):
            mark = [UpdateOne({"_id": i}, {"$set": {"announced": True}}) for i in ids]
            if mark:
                await collection.bulk_write(mark, ordered=False)

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
