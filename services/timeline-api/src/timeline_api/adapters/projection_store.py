"""The projection's store on MongoDB (``ports.timelines.ProjectionStore``,
``ports.timelines.ThreadMerges``): the timeline's collections, messages written a whole
poll at a time, withdrawn copies and a disconnected account's items taken away, and
threads merged into others (docs/adr/0027)."""

from collections.abc import Iterable, Mapping

from crm_runtime.mongo import find_by_ids, insert_new
from crm_schemas.outcomes import ItemDropped
from timeline_api.adapters.account_removal import remove_account_items
from timeline_api.adapters.message_removal import remove_message_copies
from timeline_api.adapters.message_writes import MessageWrites
from timeline_api.adapters.timeline_store import TimelineStore
from timeline_api.domain.copies import CopyRemoved
from timeline_api.domain.model import StoredEvent, StoredMessage, ThreadSummary
from timeline_api.ports.timelines import AccountRemoval, ThreadChange


class MongoProjectionStore:
    """What the projection writes, in the timeline's collections."""

    def __init__(self, store: TimelineStore) -> None:
        self._store = store
        self._messages = MessageWrites(store)

    async def store_messages(self, messages: list[StoredMessage]) -> list[ThreadSummary]:
        """Store each message once (adding its sources) and re-summarise its thread."""
        return await self._messages.store_messages(messages)

    async def remove_messages(self, removals: list[CopyRemoved]) -> list[ThreadChange]:
        """Take each mailbox's copy away from its message; every thread that lost one."""
        return await remove_message_copies(self._store, removals)

    async def upsert_event(self, event: StoredEvent) -> None:
        """Store a meeting once, adding its sources."""
        await self._store.upsert_event(event)

    async def remove_event_source(self, removed: CopyRemoved) -> None:
        """Take one calendar away from a meeting; the meeting goes when none is left."""
        await self._store.remove_event_source(removed)

    async def record_dropped(self, drops: list[ItemDropped]) -> None:
        """Remember why items were not synced."""
        await self._store.record_dropped(drops)

    async def remove_account(self, account_id: str) -> AccountRemoval:
        """Take the account away as a source of everything; what only it had goes."""
        return await remove_account_items(self._store, account_id)

    async def redirect_threads(self, redirects: Mapping[str, str]) -> None:
        """From now on, what comes for each thread goes to the one it merged into
        (insert-only: a thread merges into one other thread, once)."""
        docs = [{"_id": gone, "into": into} for gone, into in redirects.items()]
        await insert_new(self._store.thread_redirects, docs)

    async def thread_redirects(self, thread_ids: Iterable[str]) -> dict[str, str]:
        """The thread each of these merged into, for those that did."""
        found = await find_by_ids(self._store.thread_redirects, thread_ids)
        return {gone: str(doc["into"]) for gone, doc in found.items()}

    async def absorb_thread(self, into: str, gone: str) -> list[ThreadChange]:
        """Move thread ``gone``'s messages into ``into``; both as they were and are."""
        return await self._messages.absorb(into, gone)
