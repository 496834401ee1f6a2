"""The projection's write path for messages: a whole batch in a few round trips.

Per batch, whatever its size: the messages are inserted where new (one ``insert_many``,
one SQLite transaction on FerretDB) and updated where already stored (a second mailbox,
a redelivery); each touched thread's member document is inserted or extended the same
way; the member documents are read back in one query; every touched thread is
summarised from them and its summary written in one more round trip.

A thread's member document (``thread_members``, by thread id) keeps, for every message,
the inputs of the summary (``inputs``: sender time, subject, participants, sources), so
a new message never re-reads the thread's other messages. Member entries only ever grow
and are set field by field, so redelivery, a replay or a second mailbox change nothing
twice. Documents written before ``inputs`` existed are completed from ``messages``.
"""

from collections.abc import Iterable

from pymongo import ReplaceOne, UpdateOne

from crm_runtime.mongo import Document, find_by_ids, insert_new, upsert_many
from timeline_api.adapters.timeline_store import TimelineStore, field_key, thread_doc
from timeline_api.domain.model import Source, StoredMessage, ThreadSummary
from timeline_api.domain.threads import summarise_thread
from timeline_api.ports import ThreadChange

_SUMMARY_FIELDS = ("workspace_id", "thread_id", "message_id", "subject", "participants")


def _content(message: StoredMessage) -> Document:
    doc = message.model_dump(mode="json", exclude={"sources", "item_id"})
    doc["sent_at"] = message.sent_at
    return doc


def _sources(message: StoredMessage) -> Document:
    return {field_key(s.account_id): s.model_dump(mode="json") for s in message.sources}


def _merged(messages: Iterable[StoredMessage]) -> dict[str, StoredMessage]:
    """One record per item, the last delivery's content with every delivery's sources."""
    merged: dict[str, StoredMessage] = {}
    for message in messages:
        seen = merged.get(message.item_id)
        sources = {s.account_id: s for s in (*(seen.sources if seen else ()), *message.sources)}
        merged[message.item_id] = message.model_copy(update={"sources": tuple(sources.values())})
    return merged


def _summary_input(message: StoredMessage) -> Document:
    doc = message.model_dump(mode="json", include=set(_SUMMARY_FIELDS))
    return doc | {"sent_at": message.sent_at, "sources": _sources(message)}


def _member_update(messages: list[StoredMessage]) -> Document:
    fields: Document = {}
    for m in messages:
        key = field_key(m.item_id)
        fields[f"items.{key}"] = m.item_id
        for name, value in _summary_input(m).items():
            if name != "sources":
                fields[f"inputs.{key}.{name}"] = value
        for account, source in _sources(m).items():
            fields[f"inputs.{key}.sources.{account}"] = source
    return {"$set": fields}


def _from_input(item_id: str, doc: Document) -> StoredMessage:
    sources = tuple(Source.model_validate(s) for s in (doc.get("sources") or {}).values())
    return StoredMessage.model_validate(doc | {"item_id": item_id, "sources": sources})


class MessageWrites:
    """Stores batches of timeline messages and keeps their threads' summaries."""

    def __init__(self, store: TimelineStore) -> None:
        self._store = store

    async def store_messages(self, messages: list[StoredMessage]) -> list[ThreadSummary]:
        """Store each message once (adding its sources) and re-summarise its thread."""
        merged = _merged(messages)
        await self._messages(list(merged.values()))
        by_thread: dict[str, list[StoredMessage]] = {}
        for message in merged.values():
            by_thread.setdefault(message.thread_id, []).append(message)
        members = await self._members(by_thread)
        summaries = [
            summarise_thread(thread, await self._thread_inputs(members[thread]))
            for thread in by_thread
        ]
        await self._summaries(summaries)
        return summaries

    async def _messages(self, messages: list[StoredMessage]) -> None:
        inserts = [_content(m) | {"_id": m.item_id, "sources": _sources(m)} for m in messages]
        updates = {
            m.item_id: {"$set": _content(m) | {f"sources.{k}": s for k, s in _sources(m).items()}}
            for m in messages
        }
        await upsert_many(self._store.messages, inserts, updates)

    async def _members(self, by_thread: dict[str, list[StoredMessage]]) -> dict[str, Document]:
        """Each thread's member document after this batch, inserted or extended."""
        members = self._store.thread_members
        fresh = {
            thread: {
                "_id": thread,
                "items": {field_key(m.item_id): m.item_id for m in batch},
                "inputs": {field_key(m.item_id): _summary_input(m) for m in batch},
            }
            for thread, batch in by_thread.items()
        }
        updates = {thread: _member_update(batch) for thread, batch in by_thread.items()}
        existing = await upsert_many(members, list(fresh.values()), updates)
        if not existing:
            return fresh
        return fresh | await find_by_ids(members, existing)

    async def absorb(self, into: str, gone: str) -> list[ThreadChange]:
        """Move every message of thread ``gone`` into thread ``into`` and summarise it
        again; ``gone`` leaves the threads. Nothing when ``gone`` has no message (left
        already: a redelivery). Called by the one consumer that owns ``into``; ``gone``
        takes no message any more (it forwards them), so nothing else writes either."""
        members = self._store.thread_members
        moving = await members.find_one({"_id": gone})
        if moving is None or not moving.get("items"):
            return []
        messages = [
            m.model_copy(update={"thread_id": into}) for m in await self._thread_inputs(moving)
        ]
        before_gone, before_into = await self._store.thread(gone), await self._store.thread(into)
        await self._store.messages.bulk_write(
            [UpdateOne({"_id": m.item_id}, {"$set": {"thread_id": into}}) for m in messages],
            ordered=False,
        )
        await members.update_one({"_id": into}, _member_update(messages), upsert=True)
        member = await members.find_one({"_id": into})
        assert member is not None
        summary = summarise_thread(into, await self._thread_inputs(member))
        await self._store.threads.replace_one({"_id": into}, thread_doc(summary), upsert=True)
        await self._store.threads.delete_one({"_id": gone})
        await members.delete_one({"_id": gone})
        return [ThreadChange(before_gone, None), ThreadChange(before_into, summary)]

    async def _thread_inputs(self, member: Document) -> list[StoredMessage]:
        """The summary inputs of a thread's messages; older documents from ``messages``."""
        inputs: Document = member.get("inputs") or {}
        messages = [_from_input(member["items"][k], doc) for k, doc in inputs.items()]
        missing = [i for k, i in (member.get("items") or {}).items() if k not in inputs]
        if missing:
            found = await find_by_ids(self._store.messages, missing, {"body_text": False})
            messages += [_from_input(i, doc) for i, doc in found.items()]
        return messages

    async def _summaries(self, summaries: list[ThreadSummary]) -> None:
        docs = [thread_doc(s) for s in summaries]
        existing = await insert_new(self._store.threads, docs)
        replace = [
            ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs if d["_id"] in existing
        ]
        if replace:
            await self._store.threads.bulk_write(replace, ordered=False)
