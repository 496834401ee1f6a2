"""The matcher's own index of known people by address, fed by the records topic."""

from collections.abc import Iterable, Mapping

from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document, find_by_ids
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
        """Person id by address, for the addresses that belong to a known person."""
        return (await self.lookup_many({workspace_id: list(emails)})).get(workspace_id, {})

    async def lookup_many(self, emails: Mapping[str, Iterable[str]]) -> dict[str, dict[str, str]]:
        """Person id by address per workspace, in one query for a whole batch."""
        ids = [f"{ws}:{normalize_email(e)}" for ws, addresses in emails.items() for e in addresses]
        found = await find_by_ids(self._addresses, ids) if ids else {}
        people: dict[str, dict[str, str]] = {}
        for doc in found.values():
            people.setdefault(doc["workspace_id"], {})[doc["email"]] = doc["person_id"]
        return people
