"""The projection's write path for messages: a whole batch in a few round trips.

Per batch, whatever its size: the messages are inserted where new (one ``insert_many``,
one SQLite transaction on FerretDB) and updated where already stored (a second mailbox,
a redelivery); each touched thread's member document is inserted or extended the same
way; the member documents are read back in one query; every touched thread is
summarised from them and its summary written in one more round trip.

A thread's member document (``thread_members``, by thread id) keeps, for every message,
the inputs of the summary (``inputs``: sender time, subject, participants, sources), so
a new message never re-reads the thread's other messages. Member entries are set field
by field, so redelivery, a replay or a second mailbox change nothing twice (a withdrawn
copy takes its entry away: ``message_removal``; a thread that merged into another moves
its entries there: ``absorb``, docs/adr/0027). Documents written before ``inputs``
existed are completed from ``messages``.

Each mailbox's copy of a message carries its version (``versions.<account>``); a copy
already stored, or withdrawn, at a newer version is not taken again (docs/adr/0021).
New messages cost nothing more: only those that existed are read back for their versions.
"""

from collections.abc import Iterable

from pymongo import ReplaceOne, UpdateOne

from crm_runtime.mongo import Document, find_by_ids, insert_new, upsert_many
from timeline_api.adapters.timeline_store import (
    TimelineStore,
    field_key,
    holds,
    known_from,
    thread_doc,
)
from timeline_api.domain.copies import is_current, takes
from timeline_api.domain.model import Source, StoredMessage, ThreadSummary
from timeline_api.domain.threads import summarise_thread
from timeline_api.ports.timelines import ThreadChange

_SUMMARY_FIELDS = ("workspace_id", "thread_id", "message_id", "subject", "participants")


def _content(message: StoredMessage) -> Document:
    doc = message.model_dump(mode="json", exclude={"sources", "item_id"})
    doc["sent_at"] = message.sent_at
    doc["version"] = message.version
    return doc


def _sources(message: StoredMessage) -> Document:
    return {field_key(s.account_id): s.model_dump(mode="json") for s in message.sources}


def _versions(message: StoredMessage) -> Document:
    return {f"versions.{field_key(s.account_id)}": s.version for s in message.sources if s.version}


def _merged(messages: Iterable[StoredMessage]) -> dict[str, StoredMessage]:
    """One record per item: of each account's deliveries the newest (the later of equal
    ones), the content of the newest delivery of all."""
    merged: dict[str, StoredMessage] = {}
    for message in messages:
        seen = merged.get(message.item_id)
        sources = {s.account_id: s for s in (seen.sources if seen else ())}
        for source in message.sources:
            kept = sources.get(source.account_id)
            if kept is None or is_current(source.version, kept.version):
                sources[source.account_id] = source
        content = message if seen is None or is_current(message.version, seen.version) else seen
        merged[message.item_id] = content.model_copy(update={"sources": tuple(sources.values())})
    return merged


def _by_thread(messages: Iterable[StoredMessage]) -> dict[str, list[StoredMessage]]:
    by_thread: dict[str, list[StoredMessage]] = {}
    for message in messages:
        by_thread.setdefault(message.thread_id, []).append(message)
    return by_thread


def _plain(dotted: Document) -> Document:
    """``{"versions.<key>": v}`` as the nested ``{<key>: v}`` an inserted document holds."""
    return {k.partition(".")[2]: v for k, v in dotted.items()}


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
        """Store each message once (adding the sources not older than what is known of
        them) and re-summarise their threads.

        A message stored already exactly so (a redelivery, a replay that changes nothing)
        is not written again; its thread's member entry and summary are checked, and
        written only where they lack it (a crash between the writes), so the common
        replay reads and does not write. Every thread is returned, for the read model to
        announce again (idempotent)."""
        changed, same = await self._messages(list(_merged(messages).values()))
        members = await self._members(_by_thread(changed))
        members |= await self._held({t: b for t, b in _by_thread(same).items() if t not in members})
        threads = dict.fromkeys(m.thread_id for m in (*changed, *same))
        summaries = [
            summarise_thread(thread, await self._thread_inputs(members[thread]))
            for thread in threads
        ]
        written = {m.thread_id for m in changed}
        await self._summaries([s for s in summaries if s.thread_id in written])
        await self._stale_summaries([s for s in summaries if s.thread_id not in written])
        return summaries

    async def _messages(
        self, messages: list[StoredMessage]
    ) -> tuple[list[StoredMessage], list[StoredMessage]]:
        """Insert the new messages; update the others with the copies that are current.
        The messages as taken (each with the sources it took): those written, and those
        already stored exactly so; older deliveries are in neither."""
        inserts = [
            _content(m)
            | {"_id": m.item_id, "sources": _sources(m), "versions": _plain(_versions(m))}
            for m in messages
        ]
        existing = await insert_new(self._store.messages, inserts)
        if not existing:
            return messages, []
        known = await find_by_ids(self._store.messages, existing)
        taken = [m for m in messages if m.item_id not in existing]
        same: list[StoredMessage] = []
        updates = []
        for message in (m for m in messages if m.item_id in existing):
            doc = known.get(message.item_id)
            have = known_from(doc)
            current = tuple(s for s in message.sources if takes(have, s.account_id, s.version))
            if not current:
                continue  # every copy of this delivery is older than the timeline's
            message = message.model_copy(update={"sources": current})
            fields = {f"sources.{k}": s for k, s in _sources(message).items()}
            changes = _content(message) | fields | _versions(message)
            if holds(doc, changes):
                same.append(message)  # a redelivery, or a replay that changes nothing
                continue
            updates.append(UpdateOne({"_id": message.item_id}, {"$set": changes}, upsert=True))
            taken.append(message)
        if updates:
            await self._store.messages.bulk_write(updates, ordered=False)
        return taken, same

    async def _members(self, by_thread: dict[str, list[StoredMessage]]) -> dict[str, Document]:
        """Each thread's member document after this batch, inserted or extended."""
        if not by_thread:
            return {}
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

    async def _held(self, by_thread: dict[str, list[StoredMessage]]) -> dict[str, Document]:
        """The member documents of threads whose messages did not change, read; those
        that lack an entry of them (written again)."""
        if not by_thread:
            return {}
        found = await find_by_ids(self._store.thread_members, list(by_thread))
        stale = {
            thread: batch
            for thread, batch in by_thread.items()
            if not holds(found.get(thread), _member_update(batch)["$set"])
        }
        kept = {thread: doc for thread, doc in found.items() if thread not in stale}
        return kept | await self._members(stale)

    async def _stale_summaries(self, summaries: list[ThreadSummary]) -> None:
        """Write the summaries the threads collection does not hold as they are."""
        if not summaries:
            return
        found = await find_by_ids(self._store.threads, [s.thread_id for s in summaries])
        await self._summaries(
            [s for s in summaries if not holds(found.get(s.thread_id), thread_doc(s))]
        )

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
        if not summaries:
            return
        docs = [thread_doc(s) for s in summaries]
        existing = await insert_new(self._store.threads, docs)
        replace = [
            ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs if d["_id"] in existing
        ]
        if replace:
            await self._store.threads.bulk_write(replace, ordered=False)
