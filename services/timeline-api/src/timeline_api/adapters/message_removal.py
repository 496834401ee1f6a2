"""A mailbox's copy of a message withdrawn (the matcher now drops it): the message loses
that source, leaves when no mailbox has it any more, and its thread is summarised again.

Read, then written, by ``_id`` only: timeline.messages is keyed by thread id, so one
consumer owns a thread and its messages (docs/adr/0007). A removal older than what is
known of the copy changes nothing (docs/adr/0021); every step sets or unsets fields, so
a redelivery or a replay finds nothing more to do.
"""

from collections.abc import Sequence

from crm_runtime.mongo import Document, find_by_ids
from timeline_api.adapters.account_removal import resummarise
from timeline_api.adapters.timeline_store import (
    KNOWN_FIELDS,
    TimelineStore,
    field_key,
    known_from,
    tombstone,
)
from timeline_api.domain.copies import CopyRemoved, takes
from timeline_api.domain.model import ThreadSummary
from timeline_api.ports.timelines import ThreadChange


async def remove_message_copies(
    store: TimelineStore, removals: Sequence[CopyRemoved]
) -> list[ThreadChange]:
    """Take each copy away from its message, in order; every thread that lost a message
    or a source, as it was and as it is now."""
    fields = KNOWN_FIELDS | {"thread_id": True}
    docs = await find_by_ids(store.messages, [r.item_id for r in removals], fields)
    before: dict[str, ThreadSummary | None] = {}
    for removal in removals:
        doc = docs.get(removal.item_id)
        if doc is None or not takes(known_from(doc), removal.account_id, removal.version):
            continue
        thread_id = doc.get("thread_id")
        had = field_key(removal.account_id) in (doc.get("sources") or {})
        if had and thread_id is not None and thread_id not in before:
            before[thread_id] = await store.thread(thread_id)
        docs[removal.item_id] = await _withdraw(store, doc, removal)
    return [ThreadChange(was, await resummarise(store, t)) for t, was in before.items()]


async def _withdraw(store: TimelineStore, doc: Document, removal: CopyRemoved) -> Document:
    """Take the account's copy away from the message (and from its thread's summary
    inputs); the message becomes a tombstone when it was the last. The document after."""
    item, account = field_key(removal.item_id), field_key(removal.account_id)
    left = {k: v for k, v in (doc.get("sources") or {}).items() if k != account}
    if not left:
        stone = tombstone(removal.item_id, doc, account, removal.version)
        await store.messages.replace_one({"_id": removal.item_id}, stone)
        gone: Document = {f"items.{item}": "", f"inputs.{item}": ""}
        after = stone
    else:
        await store.messages.update_one(
            {"_id": removal.item_id},
            {
                "$unset": {f"sources.{account}": "", f"versions.{account}": ""},
                "$set": {f"withdrawn.{account}": removal.version},
            },
        )
        gone = {f"inputs.{item}.sources.{account}": ""}
        withdrawn = dict(doc.get("withdrawn") or {}) | {account: removal.version}
        versions = {k: v for k, v in (doc.get("versions") or {}).items() if k != account}
        after = doc | {"sources": left, "versions": versions, "withdrawn": withdrawn}
    if doc.get("thread_id") is not None and account in (doc.get("sources") or {}):
        await store.thread_members.update_one({"_id": doc["thread_id"]}, {"$unset": gone})
    return after
