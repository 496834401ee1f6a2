"""The dead letters of every service, in the timeline API's database
(``ports.operations.DeadLetters``).

Kept by ``_id`` = source topic, partition and offset. Listing filters on the workspace,
the topic, the error type and the time, which FerretDB 1.x answers by scanning the
collection (docs/adr/0007): dead letters are few, and listed by operators, never on a
request of the timelines. MongoDB uses the indexes below.
"""

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document, upsert_many
from timeline_api.domain.dead_letters import (
    DeadLetterQuery,
    ErrorCount,
    StoredDeadLetter,
    count_errors,
)
from timeline_api.domain.pagination import Cursor

COLLECTION = "dead_letters"
INDEXES = [
    IndexModel([("workspace_id", ASCENDING), ("failed_at", DESCENDING)]),
    IndexModel([("failed_at", DESCENDING)]),
]
_RETRY_FIELDS = ("retried_at", "retried_by")


def _doc(letter: StoredDeadLetter) -> Document:
    doc = letter.model_dump(exclude={"letter_id"})
    return doc | {"_id": letter.letter_id}


def _letter(doc: Document) -> StoredDeadLetter:
    """A kept dead letter; its payload empty when the query left it out."""
    return StoredDeadLetter.model_validate({"payload": ""} | doc | {"letter_id": doc["_id"]})


def _filter(query: DeadLetterQuery) -> Document:
    found: Document = {}
    if query.workspace_id is not None:
        found["workspace_id"] = query.workspace_id
    if query.topic is not None:
        found["source_topic"] = query.topic
    if query.error_type is not None:
        found["error_type"] = query.error_type
    if query.since is not None:
        found["failed_at"] = {"$gte": query.since}
    if query.pending_only:
        found["retried_at"] = None
    return found


class MongoDeadLetters:
    """``ports.operations.DeadLetters`` on MongoDB."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._letters: AsyncCollection[Document] = db[COLLECTION]

    async def create_indexes(self) -> None:
        """The listing's indexes, those missing only (FerretDB refuses existing ones)."""
        existing = await self._letters.index_information()
        missing = [i for i in INDEXES if i.document["name"] not in existing]
        if missing:
            await self._letters.create_indexes(missing)

    async def record(self, letters: Sequence[StoredDeadLetter]) -> None:
        """Keep dead letters; one kept already keeps whether it was re-driven."""
        docs = {letter.letter_id: _doc(letter) for letter in letters}
        updates = {
            i: {"$set": {k: v for k, v in d.items() if k not in (*_RETRY_FIELDS, "_id")}}
            for i, d in docs.items()
        }
        await upsert_many(self._letters, list(docs.values()), updates)

    async def letter(self, letter_id: str) -> StoredDeadLetter | None:
        """One dead letter with its payload, or None."""
        doc = await self._letters.find_one({"_id": letter_id})
        return _letter(doc) if doc is not None else None

    async def page(
        self, query: DeadLetterQuery, after: Cursor | None, limit: int
    ) -> list[StoredDeadLetter]:
        """Newest first, after the cursor, without payloads."""
        found = _filter(query)
        if after is not None:
            older = [
                {"failed_at": {"$lt": after.at}},
                {"failed_at": after.at, "_id": {"$lt": after.id}},
            ]
            found = {"$and": [found, {"$or": older}]} if found else {"$or": older}
        cursor = self._letters.find(found, {"payload": False}).sort(
            [("failed_at", DESCENDING), ("_id", DESCENDING)]
        )
        return [_letter(doc) async for doc in cursor.limit(limit)]

    async def counts(self, query: DeadLetterQuery) -> list[ErrorCount]:
        """How many of each error from each topic (read as two fields per letter)."""
        projection = {"source_topic": True, "error_type": True}
        kinds = self._letters.find(_filter(query), projection)
        return count_errors([(d["source_topic"], d["error_type"]) async for d in kinds])

    async def pending(self, query: DeadLetterQuery, limit: int) -> list[StoredDeadLetter]:
        """Oldest first, not re-driven yet, with payloads."""
        pending = _filter(replace(query, pending_only=True))
        cursor = self._letters.find(pending).sort([("failed_at", ASCENDING), ("_id", ASCENDING)])
        return [_letter(doc) async for doc in cursor.limit(limit)]

    async def mark_retried(self, letter_ids: Sequence[str], at: datetime, by: str) -> None:
        """Note when and by whom these were re-driven."""
        if letter_ids:
            await self._letters.update_many(
                {"_id": {"$in": list(letter_ids)}},
                {"$set": {"retried_at": at, "retried_by": by}},
            )
