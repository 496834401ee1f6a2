"""Provider cursors (Gmail historyId, Graph deltaLink) in the fetcher's MongoDB, by ``_id``."""

from dataclasses import asdict

from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document
from fetcher.providers.base import Phase, ProviderCursor

COLLECTION = "provider_cursors"


def _key(account_id: str, stream: str) -> str:
    return f"{account_id}\x1f{stream}"


class MongoProviderCursorStore:
    """One document per (account, stream)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._collection = db[COLLECTION]

    async def load(self, account_id: str, stream: str) -> ProviderCursor | None:
        """The stream's cursor, None before its first sync."""
        doc = await self._collection.find_one({"_id": _key(account_id, stream)})
        if doc is None:
            return None
        return ProviderCursor(
            phase=Phase(doc["phase"]),
            token=doc.get("token"),
            page=doc.get("page"),
            step=int(doc.get("step", 0)),
            offset=int(doc.get("offset", 0)),
            done=int(doc.get("done", 0)),
        )

    async def save(self, account_id: str, stream: str, cursor: ProviderCursor) -> None:
        """Store the stream's cursor (one job per account at a time: last write wins)."""
        doc = {"account_id": account_id, "stream": stream, **asdict(cursor)}
        doc["phase"] = cursor.phase.value
        await self._collection.replace_one({"_id": _key(account_id, stream)}, doc, upsert=True)
