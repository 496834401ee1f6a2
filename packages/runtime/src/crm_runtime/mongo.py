"""MongoDB through PyMongo's async API (see docs/adr/0002)."""

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from crm_runtime.settings import ServiceSettings

Document = dict[str, Any]


def connect(settings: ServiceSettings) -> AsyncMongoClient[Document]:
    """A client for the service's MongoDB; it connects lazily on first use."""
    return AsyncMongoClient(
        settings.mongo_url.get_secret_value(),
        tz_aware=True,
        serverSelectionTimeoutMS=10_000,
        retryWrites=False,  # FerretDB on SQLite has no replica set; writes are idempotent anyway
    )


async def upsert_if_newer(
    collection: AsyncCollection[Document], doc_id: str, doc: Document, version_field: str
) -> bool:
    """Store ``doc`` unless a copy at least as new is already there. True when stored.

    Two writers racing on a new id both try to insert; the loser's duplicate-key error
    means the other copy is there, and the newer of the two wins on the next delivery.
    """
    try:
        result = await collection.replace_one(
            {"_id": doc_id, version_field: {"$lt": doc[version_field]}},
            doc | {"_id": doc_id},
            upsert=True,
        )
    except DuplicateKeyError:
        return False
    return result.modified_count > 0 or result.upserted_id is not None
