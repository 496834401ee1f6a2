"""The matcher's own index of known people by address, fed by the records topic."""

import asyncio
from collections.abc import Iterable

from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document
from crm_schemas.ids import normalize_email
from crm_schemas.records import PersonUpserted


class Contacts:
    """Which person each address belongs to, per workspace."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._addresses = db["contact_addresses"]

    async def remember(self, person: PersonUpserted) -> None:
        """Point every address of the person at the person (at the survivor of a merge)."""
        owner = person.merged_into or person.person_id
        for email in person.emails:
            address = normalize_email(email)
            await self._addresses.update_one(
                {"_id": f"{person.workspace_id}:{address}"},
                {
                    "$set": {
                        "workspace_id": person.workspace_id,
                        "email": address,
                        "person_id": owner,
                        "company_id": person.company_id,
                    }
                },
                upsert=True,
            )

    async def lookup(self, workspace_id: str, emails: Iterable[str]) -> dict[str, str]:
        """Person id by address, for the addresses that belong to a known person.

        One ``_id`` lookup per address: FerretDB 1.x scans the collection for ``$in``.
        """
        ids = [f"{workspace_id}:{normalize_email(e)}" for e in emails]
        found = await asyncio.gather(*(self._addresses.find_one({"_id": i}) for i in ids))
        return {doc["email"]: doc["person_id"] for doc in found if doc is not None}
