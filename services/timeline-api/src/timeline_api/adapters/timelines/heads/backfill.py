"""Putting a read model made before the heads (or the rosters) existed on them, once:
``crm-admin index-timelines``."""

from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document
from crm_schemas.records import PersonUpserted
from timeline_api.adapters.records import person_from_doc
from timeline_api.adapters.timeline_store import thread_from_doc
from timeline_api.adapters.timelines.heads.handlers import HeadsFeed
from timeline_api.adapters.timelines.heads.mongo import MongoHeads, MongoRosters
from timeline_api.domain.model import ThreadSummary

ANNOUNCED_AT_ONCE = 500
"""Stored threads announced in one bulk publish by ``index_stored_threads``."""
NOTED_AT_ONCE = 500
"""Stored people noted in one go by ``roster_stored_people``."""


async def index_stored_threads(db: AsyncDatabase[Document], feed: HeadsFeed) -> int:
    """Announce every stored thread to the index, then mark it ready; the thread count.

    Pages are read from the index as soon as the mark is set, while its consumer may
    still be applying the announcements of the last few seconds.
    """
    count = 0
    chunk: list[ThreadSummary] = []
    async for doc in db["threads"].find({}):
        chunk.append(thread_from_doc(doc))
        if len(chunk) == ANNOUNCED_AT_ONCE:
            await feed.threads_changed(chunk)
            count, chunk = count + len(chunk), []
    await feed.threads_changed(chunk)
    await MongoHeads(db).mark_ready()
    return count + len(chunk)


async def roster_stored_people(db: AsyncDatabase[Document], feed: HeadsFeed) -> int:
    """Put every stored person on their company's roster, then mark the rosters complete;
    the number of people."""
    count = 0
    chunk: list[PersonUpserted] = []
    async for doc in db["people"].find({}):
        chunk.append(person_from_doc(doc))
        if len(chunk) == NOTED_AT_ONCE:
            await feed.people_changed(chunk)
            count, chunk = count + len(chunk), []
    await feed.people_changed(chunk)
    await MongoRosters(db).mark_ready()
    return count + len(chunk)
