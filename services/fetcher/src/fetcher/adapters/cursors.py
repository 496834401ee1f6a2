"""Folder cursors in the fetcher's own MongoDB database."""

from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document
from fetcher.domain.model import FolderCursor

COLLECTION = "imap_cursors"


def _key(account_id: str, folder: str) -> str:
    return f"{account_id}\x1f{folder}"


class MongoCursorStore:
    """One document per (account, folder): UIDVALIDITY, the published UID range and
    import progress."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._collection = db[COLLECTION]

    async def load(self, account_id: str, folder: str) -> FolderCursor | None:
        """The folder's cursor, None before its first import."""
        doc = await self._collection.find_one({"_id": _key(account_id, folder)})
        if doc is None:
            return None
        return FolderCursor(
            uidvalidity=int(doc["uidvalidity"]),
            last_uid=int(doc["last_uid"]),
            done=int(doc.get("done", 0)),
            backfill_below=int(doc.get("backfill_below", 0)),
            highestmodseq=int(doc.get("highestmodseq", 0)),
        )

    async def save(self, account_id: str, folder: str, cursor: FolderCursor) -> None:
        """Store the folder's cursor (last write wins: one job per account at a time)."""
        await self._collection.replace_one(
            {"_id": _key(account_id, folder)},
            {
                "account_id": account_id,
                "folder": folder,
                "uidvalidity": cursor.uidvalidity,
                "last_uid": cursor.last_uid,
                "done": cursor.done,
                "backfill_below": cursor.backfill_below,
                "highestmodseq": cursor.highestmodseq,
            },
            upsert=True,
        )
