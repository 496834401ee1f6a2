"""Searches of members' mailboxes, by lookup id (``ports.timelines.MailboxLookups``), in MongoDB and
in memory. A search is inserted by the request that starts it, before any mailbox is
asked; then only the consumer of the lookup results (keyed by lookup id) writes it."""

from collections.abc import Sequence

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_runtime.mongo import Document, find_by_ids
from crm_schemas.lookups import MessageLookupAnswered
from timeline_api.adapters.timeline_store import field_key
from timeline_api.domain.lookups import MailboxLookup, MailboxSearched, with_answer

COLLECTION = "mailbox_lookups"


def _doc(lookup: MailboxLookup) -> Document:
    doc = lookup.model_dump(mode="json", exclude={"lookup_id", "mailboxes"})
    mailboxes = {field_key(m.account_id): m.model_dump(mode="json") for m in lookup.mailboxes}
    return doc | {"_id": lookup.lookup_id, "started_at": lookup.started_at, "mailboxes": mailboxes}


def _lookup(doc: Document) -> MailboxLookup:
    mailboxes = tuple(MailboxSearched.model_validate(m) for m in doc["mailboxes"].values())
    return MailboxLookup.model_validate(doc | {"lookup_id": doc["_id"], "mailboxes": mailboxes})


class MongoMailboxLookups:
    """``ports.timelines.MailboxLookups`` in the timeline API's database, by ``_id``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._lookups = db[COLLECTION]

    async def start(self, lookup: MailboxLookup) -> bool:
        """Keep a new search; False when its id is taken (insert-only)."""
        try:
            await self._lookups.insert_one(_doc(lookup))
        except DuplicateKeyError:
            return False
        return True

    async def lookup(self, lookup_id: str) -> MailboxLookup | None:
        """A search with the answers in so far, or None."""
        doc = await self._lookups.find_one({"_id": lookup_id})
        return _lookup(doc) if doc is not None else None

    async def record(self, answers: Sequence[MessageLookupAnswered]) -> None:
        """Keep answers: each search read once, its mailboxes set field by field."""
        found = await find_by_ids(self._lookups, [a.lookup_id for a in answers])
        for answer in answers:
            doc = found.get(answer.lookup_id)
            key = field_key(answer.account_id)
            if doc is None or key not in doc["mailboxes"]:
                continue
            searched = MailboxSearched.model_validate(doc["mailboxes"][key])
            answered = with_answer(searched, answer).model_dump(mode="json")
            doc["mailboxes"][key] = answered
            await self._lookups.update_one(
                {"_id": answer.lookup_id}, {"$set": {f"mailboxes.{key}": answered}}
            )


class InMemoryMailboxLookups:
    """``ports.timelines.MailboxLookups`` in a dict."""

    def __init__(self) -> None:
        self.lookups: dict[str, MailboxLookup] = {}

    async def start(self, lookup: MailboxLookup) -> bool:
        """Keep a new search; False when its id is taken."""
        return self.lookups.setdefault(lookup.lookup_id, lookup) is lookup

    async def lookup(self, lookup_id: str) -> MailboxLookup | None:
        """A search with the answers in so far, or None."""
        return self.lookups.get(lookup_id)

    async def record(self, answers: Sequence[MessageLookupAnswered]) -> None:
        """Keep answers to known searches."""
        for answer in answers:
            lookup = self.lookups.get(answer.lookup_id)
            if lookup is None:
                continue
            mailboxes = tuple(
                with_answer(m, answer) if m.account_id == answer.account_id else m
                for m in lookup.mailboxes
            )
            self.lookups[answer.lookup_id] = lookup.model_copy(update={"mailboxes": mailboxes})
