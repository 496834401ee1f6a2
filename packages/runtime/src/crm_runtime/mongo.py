"""MongoDB through PyMongo's async API (see docs/adr/0002)."""

import logging
from typing import Any

from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from crm_runtime.settings import ServiceSettings

Document = dict[str, Any]
log = logging.getLogger(__name__)


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
    filter). Safe because each id has one writer at a time: the topics that feed these
    writes are keyed by the same id, so one consumer owns it.
    """
    existing = await collection.find_one({"_id": doc_id}, {version_field: 1})
    stored_version = existing.get(version_field) if existing is not None else None
    if stored_version is not None and stored_version >= doc[version_field]:
        return False
    try:
        await collection.replace_one({"_id": doc_id}, doc | {"_id": doc_id}, upsert=True)
    except DuplicateKeyError:  # inserted meanwhile by a replica that owned the key before us
        return False
    return True
