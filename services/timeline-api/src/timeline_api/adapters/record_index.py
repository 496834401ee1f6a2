"""Who owns each address and each domain, per workspace, in MongoDB (``ports.AddressOwners``).

Small index documents keyed ``<workspace>:<address>`` / ``<workspace>:<domain>``
(FerretDB pushes only ``_id`` lookups down, docs/adr/0007). The records API points
values at the records it saves; the projection points values nobody owns yet at the
records the enricher creates, without taking an address away from its owner.
"""

import asyncio

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_runtime.mongo import Document
from timeline_api.domain.ownership import Claim, index_key


class MongoAddressOwners:
    """Which person owns each address and which company each domain, per workspace."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.addresses: AsyncCollection[Document] = db["person_addresses"]
        self.domains: AsyncCollection[Document] = db["company_domains_index"]
        self._people: AsyncCollection[Document] = db["people"]

    async def claims(self, kind: str, workspace_id: str, values: tuple[str, ...]) -> list[Claim]:
        """Who owns each value now (one ``_id`` lookup each)."""
        index = self.addresses if kind == "person" else self.domains
        entries = await asyncio.gather(
            *(index.find_one({"_id": index_key(workspace_id, v)}) for v in values)
        )
        claims = []
        for value, entry in zip(values, entries, strict=True):
            owner = entry.get("record_id") if entry else None
            merged = False
            if owner is not None and kind == "person":
                doc = await self._people.find_one({"_id": owner}, {"merged_into": 1})
                merged = doc is None or bool(doc.get("merged_into"))
            claims.append(Claim(value, owner, merged))
        return claims

    async def point(
        self, kind: str, workspace_id: str, values: tuple[str, ...], record_id: str, *, take: bool
    ) -> None:
        """Point values at a record: always (``take``), or only those nobody owns yet."""
        index = self.addresses if kind == "person" else self.domains
        entry = {"record_id": record_id, "workspace_id": workspace_id}
        update = {"$set": entry} if take else {"$setOnInsert": entry}
        for value in values:
            key = index_key(workspace_id, value)
            try:
                await index.update_one({"_id": key}, update, upsert=True)
            except DuplicateKeyError:  # another writer inserted it meanwhile
                if take:
                    await index.update_one({"_id": key}, update)

    async def release(self, kind: str, workspace_id: str, values: set[str], record_id: str) -> None:
        """Forget the values a record gave up, unless they point elsewhere already."""
        index = self.addresses if kind == "person" else self.domains
        for value in values:
            key = index_key(workspace_id, value)
            entry = await index.find_one({"_id": key})
            if entry is not None and entry.get("record_id") == record_id:
                await index.delete_one({"_id": key})
