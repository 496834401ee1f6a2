"""Putting a read model made before the heads (or the rosters) existed on them, once:
``crm-admin index-timelines``."""

from collections.abc import Awaitable, Callable

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document
from timeline_api.adapters.records import person_from_doc
from timeline_api.adapters.timeline_store import thread_from_doc
from timeline_api.adapters.timelines.heads.handlers import HeadsFeed
from timeline_api.adapters.timelines.heads.mongo import MongoHeads, MongoRosters

ANNOUNCED_AT_ONCE = 500
"""Stored threads announced in one bulk publish by ``index_stored_threads``."""
NOTED_AT_ONCE = 500
"""Stored people noted in one go by ``roster_stored_people``."""


async def index_stored_threads(db: AsyncDatabase[Document], feed: HeadsFeed) -> int:
    """Announce every stored thread to the index, then mark it ready; the thread count.

    Pages are read from the index as soon as the mark is set, while its consumer may
    still be applying the announcements of the last few seconds.
    """

    async def announce(docs: list[Document]) -> None:
        await feed.threads_changed([thread_from_doc(d) for d in docs])

    count = await _in_chunks(db["threads"], ANNOUNCED_AT_ONCE, announce)
    await MongoHeads(db).mark_ready()
    return count


async def roster_stored_people(db: AsyncDatabase[Document], feed: HeadsFeed) -> int:
    """Put every stored person on their company's roster, then mark the rosters complete;
    the number of people."""

    async def note(docs: list[Document]) -> None:
        await feed.people_changed([person_from_doc(d) for d in docs])

    count = await _in_chunks(db["people"], NOTED_AT_ONCE, note)
    await MongoRosters(db).mark_ready()
    return count


async def _in_chunks(
    collection: AsyncCollection[Document],
    size: int,
    handle: Callable[[list[Document]], Awaitable[None]],
) -> int:
    """Hand every document of the collection to ``handle``, ``size`` at a time (the last
    chunk too, even empty); how many documents there were."""
    count = 0
    chunk: list[Document] = []
    async for doc in collection.find({}):
        chunk.append(doc)
        if len(chunk) == size:
            await handle(chunk)
            count, chunk = count + len(chunk), []
    await handle(chunk)
    return count + len(chunk)
