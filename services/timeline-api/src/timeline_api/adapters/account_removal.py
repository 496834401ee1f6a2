"""Disconnecting an account: what only it brought leaves the timelines.

A message or meeting also seen through another connected account of the workspace stays,
with that account as its source; one only this account had is deleted, and every thread
it touched is summarised again from the messages left. Idempotent: a replay of the
disconnection finds nothing more to remove.

Finding an account's items filters on ``sources.<account>``, which FerretDB 1.x answers
by scanning the collection (docs/adr/0007). Disconnecting is rare and runs in the
background projection, never on a request, so the scan is accepted here.
"""

from crm_runtime.mongo import Document
from timeline_api.adapters.timeline_store import TimelineStore, field_key, thread_doc
from timeline_api.domain.model import ThreadSummary
from timeline_api.domain.threads import summarise_thread
from timeline_api.ports.timelines import AccountRemoval, ThreadChange


async def remove_account_items(store: TimelineStore, account_id: str) -> AccountRemoval:
    """Take the account away as a source of every message and meeting: how many messages
    and meetings were deleted because no other account had them, and every thread it
    touched as it was and as it is now (summarised again from the messages left)."""
    account = field_key(account_id)
    field = f"sources.{account}"
    threads: set[str] = set()
    deleted_messages = 0
    async for doc in store.messages.find({field: {"$exists": True}}, {"thread_id": 1}):
        threads.add(str(doc["thread_id"]))
        item = field_key(str(doc["_id"]))
        if await _drop_source(store, "messages", str(doc["_id"]), field):
            deleted_messages += 1
            gone: Document = {f"items.{item}": "", f"inputs.{item}": ""}
        else:  # the thread's summary inputs keep the other sources only
            gone = {f"inputs.{item}.sources.{account}": ""}
        await store.thread_members.update_one({"_id": doc["thread_id"]}, {"$unset": gone})
    deleted_events = 0
    async for doc in store.events.find({field: {"$exists": True}}, {"_id": 1}):
        if await _drop_source(store, "events", str(doc["_id"]), field):
            deleted_events += 1
    changes = []
    for thread_id in sorted(threads):
        before = await store.thread(thread_id)
        changes.append(ThreadChange(before, await resummarise(store, thread_id)))
    return AccountRemoval(deleted_messages, deleted_events, changes)


async def _drop_source(store: TimelineStore, collection: str, item_id: str, field: str) -> bool:
    """Unset one source of an item; delete the item when none is left. True when deleted."""
    items = store.db[collection]
    version = field.replace("sources.", "versions.", 1)
    await items.update_one({"_id": item_id}, {"$unset": {field: "", version: ""}})
    left: Document | None = await items.find_one({"_id": item_id}, {"sources": 1})
    if left is not None and not left.get("sources"):
        await items.delete_one({"_id": item_id})
        return True
    return False


async def resummarise(store: TimelineStore, thread_id: str) -> ThreadSummary | None:
    """The thread's row from the messages it has now, or no row when it has none left."""
    messages = await store.thread_messages(thread_id, with_body=False)
    if not messages:
        await store.threads.delete_one({"_id": thread_id})
        await store.thread_members.delete_one({"_id": thread_id})
        return None
    summary = summarise_thread(thread_id, messages)
    await store.threads.replace_one({"_id": thread_id}, thread_doc(summary), upsert=True)
    return summary
