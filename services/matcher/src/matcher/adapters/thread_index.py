"""The matcher's index of conversations in its own database (``ports.ThreadIndex``).

One collection, ``thread_index``, read and written by ``_id`` only (FerretDB answers
nothing else without a scan, docs/adr/0007): ``<workspace>|k|<Message-ID>`` holds the
root the id was first seen under, ``<workspace>|r|<root>`` the smaller root it joined.
Documents are only ever inserted (their ``announced`` mark aside): an insert that finds
its id taken lost a race to another replica (DuplicateKeyError, reliable on FerretDB and
MongoDB alike, docs/adr/0009), and the joiner reads again and joins what won.
"""

from collections.abc import Iterable, Mapping

from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document, find_by_ids, insert_new
from matcher.ports import Link

COLLECTION = "thread_index"


def _entry_id(workspace_id: str, key: str) -> str:
    return f"{workspace_id}|k|{key}"


def _link_id(workspace_id: str, root: str) -> str:
    return f"{workspace_id}|r|{root}"


class MongoThreadIndex:
    """Entries and links by ``_id`` in the matcher's database."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._index = db[COLLECTION]

    async def entries(self, workspace_id: str, keys: Iterable[str]) -> dict[str, str]:
        """The root of each id seen before, by id."""
        wanted = {_entry_id(workspace_id, k): k for k in keys}
        found = await find_by_ids(self._index, wanted) if wanted else {}
        return {wanted[i]: str(doc["root"]) for i, doc in found.items()}

    async def links(self, workspace_id: str, roots: Iterable[str]) -> dict[str, Link]:
        """The link of each root that joined a smaller one, by root."""
        wanted = {_link_id(workspace_id, r): r for r in roots}
        found = await find_by_ids(self._index, wanted) if wanted else {}
        return {
            wanted[i]: Link(str(doc["into"]), bool(doc.get("announced")))
            for i, doc in found.items()
        }

    async def insert(
        self, workspace_id: str, entries: Mapping[str, str], links: Mapping[str, str]
    ) -> bool:
        """Insert in one round trip; False when any id was taken already."""
        docs: list[Document] = [
            {"_id": _entry_id(workspace_id, k), "root": r} for k, r in entries.items()
        ]
        docs += [
            {"_id": _link_id(workspace_id, r), "into": i, "announced": False}
            for r, i in links.items()
        ]
        return not await insert_new(self._index, docs)

    async def announce(self, workspace_id: str, roots: Iterable[str]) -> None:
        """Mark these roots' links announced."""
        ids = [_link_id(workspace_id, r) for r in roots]
        if ids:
            await self._index.update_many({"_id": {"$in": ids}}, {"$set": {"announced": True}})
