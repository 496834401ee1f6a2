"""The timeline's MongoDB collections: messages, threads, meetings, drops.

Every write is an idempotent upsert on a deterministic id, so redelivery and replays
never duplicate anything. Timelines link by address at read time: a person's threads are
those with any of the person's addresses, so history links itself when a person appears.
Only what both MongoDB and FerretDB support is used: find, sort, limit and indexes.

Each account's copy of a message or meeting is kept at its version (``versions``); a copy
withdrawn leaves its version behind (``withdrawn``), and an item no account has any more
stays as a tombstone of those (``{_id, sources: {}, withdrawn}``: no workspace, no
participants, so no query of a timeline finds it), so an older version replayed later
is not taken again (docs/adr/0021).

The write path reads and writes by ``_id`` only: FerretDB 1.x on SQLite pushes nothing
else down to SQLite, so any other filter scans the collection. A thread's members are
kept in a document of their own (``thread_members``) for that reason.
"""

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from crm_runtime.mongo import Document, upsert_many
from crm_schemas.base import to_milliseconds
from crm_schemas.outcomes import ItemDropped
from timeline_api.domain.copies import CopyRemoved, Known, is_current, takes
from timeline_api.domain.model import Source, StoredEvent, StoredMessage, ThreadSummary
from timeline_api.ports.common import UnavailableError

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


def from_field_key(key: str) -> str:
    """The id ``field_key`` made ``key`` of."""
    return key.replace("%24", "$").replace("%2E", ".").replace("%25", "%")


KNOWN_FIELDS = {"versions": True, "withdrawn": True, "version": True, "sources": True}
"""What a stored item says of its copies (``known_from``)."""


def known_from(doc: Document | None) -> Known:
    """What a stored item knows of its copies: the version of each account's copy, of each
    withdrawn copy, and of the content (none for an item from before versions)."""
    if doc is None:
        return Known()
    return Known(
        versions={from_field_key(k): v for k, v in (doc.get("versions") or {}).items()},
        withdrawn={from_field_key(k): v for k, v in (doc.get("withdrawn") or {}).items()},
        content=doc.get("version"),
    )


def holds(doc: Document | None, fields: Mapping[str, Any]) -> bool:
    """Whether ``doc`` already holds every field an update would ``$set`` (dotted paths;
    times compared to the millisecond, as stored): a replay that changes nothing about an
    item then writes nothing."""
    if doc is None:
        return False
    for path, value in fields.items():
        stored: Any = doc
        for part in path.split("."):
            if not isinstance(stored, dict) or part not in stored:
                return False
            stored = stored[part]
        if isinstance(value, datetime) and isinstance(stored, datetime):
            if to_milliseconds(stored) != to_milliseconds(value):
                return False
        elif stored != value:
            return False
    return True


def tombstone(item_id: str, doc: Document, account: str, version: object) -> Document:
    """What stays of an item whose last copy was withdrawn: the versions withdrawn."""
    withdrawn = dict(doc.get("withdrawn") or {}) | {account: version}
    return {"_id": item_id, "sources": {}, "withdrawn": withdrawn}


def _sources(doc: Document) -> tuple[Source, ...]:
    return tuple(Source.model_validate(s) for s in (doc.get("sources") or {}).values())


def _content(record: StoredMessage | StoredEvent) -> Document:
    """The document fields of a record, sources left out (they are set one by one)."""
    doc = record.model_dump(mode="json", exclude={"sources", "item_id"})
    for field in ("sent_at", "starts_at", "ends_at", "version"):
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
    """The timeline's collections, in the service's own database (``ports.timelines.Conversations``,
    ``ports.common.Health``; the projection's writes are ``MongoProjectionStore``'s)."""

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
        """Store a meeting once, adding each of its sources not older than what is known
        of them; its content only if at least as new as the content kept.

        Read, then written, by ``_id`` only; timeline.events is keyed by item id, so one
        consumer owns a meeting and the two do not race with another write of it.
        """
        doc = await self.events.find_one({"_id": event.item_id})
        have = known_from(doc)
        current = [s for s in event.sources if takes(have, s.account_id, s.version)]
        if not current:
            return
        update: Document = {}
        if is_current(event.version, have.content):
            update |= _content(event)
        for source in current:
            key = field_key(source.account_id)
            update[f"sources.{key}"] = source.model_dump(mode="json")
            update[f"versions.{key}"] = source.version
        if holds(doc, update):
            return
        try:
            await self.events.update_one({"_id": event.item_id}, {"$set": update}, upsert=True)
        except DuplicateKeyError:  # two writers created it at once: the other one won, set ours
            await self.events.update_one({"_id": event.item_id}, {"$set": update})

    async def remove_event_source(self, removed: CopyRemoved) -> None:
        """Take one calendar away from a meeting unless a newer version of its copy is
        kept; when none is left, the meeting leaves and its tombstone stays. By ``_id``,
        as ``upsert_event``."""
        doc = await self.events.find_one({"_id": removed.item_id}, KNOWN_FIELDS)
        if doc is None or not takes(known_from(doc), removed.account_id, removed.version):
            return
        key = field_key(removed.account_id)
        left = {k: v for k, v in (doc.get("sources") or {}).items() if k != key}
        if not left:
            await self.events.replace_one(
                {"_id": removed.item_id}, tombstone(removed.item_id, doc, key, removed.version)
            )
            return
        await self.events.update_one(
            {"_id": removed.item_id},
            {
                "$unset": {f"sources.{key}": "", f"versions.{key}": ""},
                "$set": {f"withdrawn.{key}": removed.version},
            },
        )

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
        messages = [
            message_from_doc(doc) for doc in found if doc is not None and doc.get("sources")
        ]
        return sorted(messages, key=lambda m: (m.sent_at, m.item_id))
