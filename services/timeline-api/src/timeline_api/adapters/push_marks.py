"""The marks that coalesce push notifications (``ports.push.PushMarks``): one document per
account, kind and window, inserted by ``_id``, the one write FerretDB and MongoDB both make
atomic across replicas (docs/adr/0009); and an in-memory twin for unit tests."""

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_runtime.mongo import Document


class MongoPushMarks:
    """Marks in MongoDB (collection ``push_marks``)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._marks = db["push_marks"]

    async def claim(self, key: str, at: datetime) -> bool:
        """Take ``key``: True for the first taker ever, False for everyone after."""
        try:
            await self._marks.insert_one({"_id": key, "at": at})
        except DuplicateKeyError:
            return False
        return True

    async def sweep(self, before: datetime) -> int:
        """Forget marks taken before ``before`` (a scan of a collection kept small)."""
        done = await self._marks.delete_many({"at": {"$lt": before}})
        return done.deleted_count


class MemoryPushMarks:
    """Marks in a dict."""

    def __init__(self) -> None:
        self.marks: dict[str, datetime] = {}

    async def claim(self, key: str, at: datetime) -> bool:
        """Take ``key`` unless taken."""
        if key in self.marks:
            return False
        self.marks[key] = at
        return True

    async def sweep(self, before: datetime) -> int:
        """Forget marks taken before ``before``."""
        old = [k for k, at in self.marks.items() if at < before]
        for key in old:
            del self.marks[key]
        return len(old)
