"""The timeline's MongoDB collections: messages, threads, meetings, drops.

Every write is an idempotent upsert on a deterministic id, so redelivery and replays
never duplicate anything. Timelines link by address at read time: a person's threads are
those with any of the person's addresses, so history links itself when a person appears.
Only what both MongoDB and FerretDB support is used: find, sort, limit and indexes.

The write path reads and writes by ``_id`` only: FerretDB 1.x on SQLite pushes nothing
else down to SQLite, so any other filter scans the collection. A thread's members are
kept in a document of their own (``thread_members``) for that reason.
"""

import asyncio

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from crm_runtime.mongo import Document, upsert_many
from crm_schemas.outcomes import ItemDropped
from timeline_api.domain.model import Source, StoredEvent, StoredMessage, ThreadSummary
from timeline_api.ports import UnavailableError

_SEARCH_INDEXES = [  # searches: an anchored regex on the terms is an index range on MongoDB
    IndexModel([("workspace_id", ASCENDING), ("search_terms", ASCENDING)]),
    IndexModel([("workspace_id", ASCENDING), ("sort_key", ASCENDING), ("_id", ASCENDING)]),
]
_INDEXES: dict[str, list[IndexModel]] = {
    "messages": [IndexModel([("thread_id", ASCENDING), ("sent_at", ASCENDING)])],
    "threads": [
        IndexModel([("participant_emails", ASCENDING), ("last_activity", DESCENDING)]),
        IndexModel([("company_domains", ASCENDING), ("last_activity", DESCENDING)]),
        IndexModel([("workspace_id", ASCENDING), ("last_activity", DESCENDING)]),
    ],
    "events": [
        IndexModel([("participant_emails", ASCENDING), ("starts_at", DESCENDING)]),
        IndexModel([("company_domains", ASCENDING), ("starts_at", DESCENDING)]),
    ],
    "people": [
        IndexModel([("emails", ASCENDING)]),
        IndexModel([("company_id", ASCENDING)]),
        *_SEARCH_INDEXES,
    ],
    "companies": [IndexModel([("domains", ASCENDING)]), *_SEARCH_INDEXES],
    "opportunities": _SEARCH_INDEXES,
}


def field_key(account_id: str) -> str:
    """An account (or item) id usable as a field name: no dots, no leading dollar."""
    return account_id.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def _sources(doc: Document) -> tuple[Source, ...]:
    return tuple(Source.model_validate(s) for s in (doc.get("sources") or {}).values())


def _content(record: StoredMessage | StoredEvent) -> Document:
    """The document fields of a record, sources left out (they are set one by one)."""
    doc = record.model_dump(mode="json", exclude={"sources", "item_id"})
    for field in ("sent_at", "starts_at", "ends_at"):
        if hasattr(record, field):
            doc[field] = getattr(record, field)
    return doc


def message_from_doc(doc: Document) -> StoredMessage:
    """A message as stored, with its sources."""
    return StoredMessage.model_validate(doc | {"item_id": doc["_id"], "sources": _sources(doc)})


def event_from_doc(doc: Document) -> StoredEvent:
    """A meeting as stored, with its sources."""
    return StoredEvent.model_validate(doc | {"item_id": doc["_id"], "sources": _sources(doc)})


def thread_doc(summary: ThreadSummary) -> Document:
    """A thread's row as stored, by thread id.

    The fields the threads queries filter and sort on are kept as fields; the whole row
    is also kept as one JSON string (``row``), which is what a page reads back: FerretDB
    1.x returned 51 rows in 8.5 ms that way, against 22.7 ms as nested documents
    (docs/adr/0012).
    """
    return {
        "_id": summary.thread_id,
        "workspace_id": summary.workspace_id,
        "participant_emails": list(summary.participant_emails),
        "company_domains": list(summary.company_domains),
        "first_activity": summary.first_activity,
        "last_activity": summary.last_activity,
        "message_count": summary.message_count,
        "row": summary.model_dump_json(),
    }


def thread_from_doc(doc: Document) -> ThreadSummary:
    """A thread's row from ``thread_doc`` (or from a row stored field by field before
    rows were kept whole). The times are the stored ones, to the millisecond as MongoDB
    keeps them, so a keyset cursor made from a row matches the stored field."""
    times = {"first_activity": doc["first_activity"], "last_activity": doc["last_activity"]}
    if "row" in doc:
        return ThreadSummary.model_validate_json(doc["row"]).model_copy(update=times)
    return ThreadSummary.model_validate(doc | {"thread_id": doc["_id"]})


class TimelineStore:
    """The timeline's collections, in the service's own database (``ports.Conversations``,
    ``ports.Health``; the projection's writes are ``MongoProjectionStore``'s)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self.messages: AsyncCollection[Document] = db["messages"]
        self.threads: AsyncCollection[Document] = db["threads"]
        self.events: AsyncCollection[Document] = db["events"]
        self.people: AsyncCollection[Document] = db["people"]
        self.companies: AsyncCollection[Document] = db["companies"]
        self.dropped: AsyncCollection[Document] = db["dropped"]
        self.thread_members: AsyncCollection[Document] = db["thread_members"]
        self.thread_redirects: AsyncCollection[Document] = db["thread_redirects"]

    async def create_indexes(self) -> None:
        """Create the indexes the read model's queries use that do not exist yet.

        Only the missing ones are asked for: FerretDB 1.24 on SQLite closes the connection
        (a server-side panic) when createIndexes names an index that already exists.
        """
        for name, indexes in _INDEXES.items():
            existing = await self.db[name].index_information()
            missing = [i for i in indexes if i.document["name"] not in existing]
            if missing:
                await self.db[name].create_indexes(missing)

    async def ping(self) -> None:
        """Return when the database answers; ``UnavailableError`` naming the driver's error
        when it does not."""
        try:
            await self.db.command("ping")
        except PyMongoError as error:
            raise UnavailableError(type(error).__name__) from error

    # --- writes (the projection) -------------------------------------------------------

    async def upsert_event(self, event: StoredEvent) -> None:
        """Store a meeting once, adding each of its sources under its account id."""
        await self._upsert_with_sources(self.events, event)

    async def remove_event_source(self, item_id: str, account_id: str) -> None:
        """Take one calendar away from a meeting; delete the meeting when none is left.

        By ``_id`` only; timeline.events is keyed by item id, so one consumer owns a meeting
        and this read-then-delete does not race with an upsert of it.
        """
        await self.events.update_one(
            {"_id": item_id}, {"$unset": {f"sources.{field_key(account_id)}": ""}}
        )
        doc = await self.events.find_one({"_id": item_id}, {"sources": 1})
        if doc is not None and not doc.get("sources"):
            await self.events.delete_one({"_id": item_id})

    async def _upsert_with_sources(
        self, collection: AsyncCollection[Document], record: StoredMessage | StoredEvent
    ) -> None:
        update = _content(record) | {
            f"sources.{field_key(s.account_id)}": s.model_dump(mode="json") for s in record.sources
        }
        try:
            await collection.update_one({"_id": record.item_id}, {"$set": update}, upsert=True)
        except DuplicateKeyError:  # two writers created it at once: the other one won, set ours
            await collection.update_one({"_id": record.item_id}, {"$set": update})

    async def record_dropped(self, drops: list[ItemDropped]) -> None:
        """Remember why items were not synced, per account each was dropped from.

        New drops are inserted in one round trip; a drop already recorded (another
        mailbox, a replay) is updated."""
        latest: dict[str, tuple[Document, Document]] = {}  # item: (outcome, by account)
        for dropped in drops:  # in order: an item's latest drop is the one kept
            outcome = dropped.model_dump(mode="json", exclude={"item_id"})
            outcome["dropped_at"] = dropped.dropped_at
            _, accounts = latest.get(dropped.item_id, ({}, {}))
            latest[dropped.item_id] = (outcome, accounts | {field_key(dropped.account_id): outcome})
        inserts = [o | {"_id": i, "accounts": a} for i, (o, a) in latest.items()]
        updates = {
            i: {"$set": o | {f"accounts.{k}": v for k, v in a.items()}}
            for i, (o, a) in latest.items()
        }
        await upsert_many(self.dropped, inserts, updates)

    # --- reads (the API) -----------------------------------------------------------------

    async def explain_item(self, item_id: str) -> tuple[Document | None, Document | None]:
        """A message's stored document and its drop record, each None when absent; by ``_id``."""
        message, dropped = await asyncio.gather(
            self.messages.find_one({"_id": item_id}, projection={"body_text": False}),
            self.dropped.find_one({"_id": item_id}),
        )
        return message, dropped

    async def event(self, item_id: str) -> StoredEvent | None:
        """A meeting, or None; by ``_id``."""
        doc = await self.events.find_one({"_id": item_id})
        return event_from_doc(doc) if doc else None

    async def thread(self, thread_id: str) -> ThreadSummary | None:
        """A thread's summary, or None."""
        doc = await self.threads.find_one({"_id": thread_id})
        return thread_from_doc(doc) if doc else None

    async def thread_messages(self, thread_id: str, *, with_body: bool) -> list[StoredMessage]:
        """A thread's messages, oldest first."""
        members = await self.thread_members.find_one({"_id": thread_id})
        ids = sorted((members or {}).get("items", {}).values())
        projection = None if with_body else {"body_text": False}
        found = await asyncio.gather(
            *(self.messages.find_one({"_id": item_id}, projection=projection) for item_id in ids)
        )
        messages = [message_from_doc(doc) for doc in found if doc is not None]
        return sorted(messages, key=lambda m: (m.sent_at, m.item_id))
