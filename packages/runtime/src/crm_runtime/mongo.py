"""MongoDB through PyMongo's async API (see docs/adr/0002)."""

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pymongo import AsyncMongoClient, UpdateOne, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from crm_runtime.settings import ServiceSettings
from crm_schemas.base import to_milliseconds

Document = dict[str, Any]
log = logging.getLogger(__name__)
DUPLICATE_KEY = 11000
IDS_PER_QUERY = 1000


class SlowCommandLog(monitoring.CommandListener):
    """Logs every database command slower than a threshold, with its name and collection."""

    def __init__(self, threshold_ms: float) -> None:
        self._threshold_us = threshold_ms * 1000
        self._started: dict[int, tuple[str, str]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        self._started[event.request_id] = (event.command_name, str(target))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._finish(event.request_id, event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._finish(event.request_id, event.duration_micros)

    def _finish(self, request_id: int, duration_us: int) -> None:
        name, target = self._started.pop(request_id, ("?", "?"))
        if duration_us >= self._threshold_us:
            log.warning(
                "slow database command",
                extra={"command": name, "collection": target, "ms": duration_us // 1000},
            )


def connect(settings: ServiceSettings) -> AsyncMongoClient[Document]:
    """A client for the service's MongoDB; it connects lazily on first use."""
    return AsyncMongoClient(
        settings.mongo_url.get_secret_value(),
        tz_aware=True,
        serverSelectionTimeoutMS=10_000,
        retryWrites=False,  # FerretDB on SQLite has no replica set; writes are idempotent anyway
        event_listeners=[SlowCommandLog(settings.slow_command_ms)],
    )


async def upsert_if_newer(
    collection: AsyncCollection[Document], doc_id: str, doc: Document, version_field: str
) -> bool:
    """Store ``doc`` unless a copy at least as new is already there. True when stored.

    Reads and writes by ``_id`` only (FerretDB 1.x scans the collection for any other
    filter, so the check cannot be part of the write's filter). Safe because each id has
    one writer at a time: the topics that feed these writes are keyed by the same id, so
    one consumer owns it. Where a service also writes a copy itself before publishing it
    (the records API), its own event then finds that copy, exactly as new, and skips it.
    """
    version = doc[version_field]
    if isinstance(version, datetime):  # compared as stored: BSON dates keep milliseconds
        version = to_milliseconds(version)
    existing = await collection.find_one({"_id": doc_id}, {version_field: 1})
    stored_version = existing.get(version_field) if existing is not None else None
    if stored_version is not None and stored_version >= version:
        return False
    try:
        await collection.replace_one({"_id": doc_id}, doc | {"_id": doc_id}, upsert=True)
    except DuplicateKeyError:  # inserted meanwhile by a replica that owned the key before us
        return False
    return True


async def find_by_ids(
    collection: AsyncCollection[Document],
    ids: Iterable[str],
    projection: Mapping[str, Any] | None = None,
) -> dict[str, Document]:
    """The documents with these ids, by id: one ``_id: {$in: ...}`` query per thousand.

    An index lookup on MongoDB, and on the local stack's FerretDB, which is built with a
    patch that pushes ``_id: {$in: ...}`` down to its ``_id`` index (docs/adr/0012);
    one such query costs much less than one lookup per id.
    """
    wanted = list(dict.fromkeys(ids))
    found: dict[str, Document] = {}
    for start in range(0, len(wanted), IDS_PER_QUERY):
        chunk = wanted[start : start + IDS_PER_QUERY]
        async for doc in collection.find({"_id": {"$in": chunk}}, projection):
            found[str(doc["_id"])] = doc
    return found


async def insert_new(collection: AsyncCollection[Document], docs: list[Document]) -> set[str]:
    """Insert the documents that do not exist yet; return the ids that already did.

    One ``insert_many`` is one SQLite transaction (one fsync) on FerretDB, where each
    update is its own: inserting first and updating only what was there already is the
    cheap way to upsert a batch that is mostly new (docs/adr/0011).
    """
    if not docs:
        return set()
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as failed:
        errors = failed.details.get("writeErrors", [])
        others = [e for e in errors if e.get("code") != DUPLICATE_KEY]
        if others:
            raise
        return {str(docs[e["index"]]["_id"]) for e in errors}
    return set()


async def upsert_many(
    collection: AsyncCollection[Document], inserts: list[Document], updates: Mapping[str, Document]
) -> set[str]:
    """Upsert a batch by ``_id``: each of ``inserts`` where its id is new, else
    ``updates[id]`` (an update document such as ``{"$set": ...}``) applied to the
    existing one. Returns the ids that existed."""
    existing = await insert_new(collection, inserts)
    if existing:
        await collection.bulk_write(
            [UpdateOne({"_id": i}, updates[i], upsert=True) for i in sorted(existing)],
            ordered=False,
        )
    return existing
