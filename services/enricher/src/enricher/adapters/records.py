"""People and companies in the enricher's own database: it is their only writer.

Auto-created records get deterministic ids (from the workspace and the address or the
domain); records made by hand get the id the records API chose. Only the records' writer
(``enricher.owner``, one consumer per workspace) writes here (docs/adr/0029): it loads a
``RecordBook`` for a batch of commands, applies them, and stores what changed; each
version stays marked unannounced until it is published on the records topic, so a crash
in between is repaired when the next command about that record comes.

Lookups go by ``_id`` only (FerretDB 1.x pushes nothing else down to SQLite): an address
index and a domain index, keyed ``<workspace>:<address>`` and ``<workspace>:<domain>``,
point at the record that owns them; ``names_seen`` keeps the first display name seen for
an address nobody has yet.
"""

from collections.abc import Iterable, Sequence
from typing import TypeVar

from pymongo import DeleteOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document, find_by_ids, insert_new
from crm_schemas.record_commands import RecordCommand
from crm_schemas.records import CompanyUpserted, PersonUpserted
from enricher.owner.book import Record, RecordBook, index_key, record_id, wanted

R = TypeVar("R", PersonUpserted, CompanyUpserted)

__all__ = ["Records", "index_key"]


class Records:
    """The enricher's people and companies, and their indexes."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._people = db["people"]
        self._companies = db["companies"]
        self._emails = db["people_by_email"]
        self._domains = db["companies_by_domain"]
        self._names = db["names_seen"]
        self._by_kind: tuple[tuple[AsyncCollection[Document], type[Record]], ...] = (
            (self._people, PersonUpserted),
            (self._companies, CompanyUpserted),
        )

    # --- reads for linking --------------------------------------------------------------

    async def person_by_email(self, workspace_id: str, email: str) -> PersonUpserted | None:
        """The person who has this address, if any."""
        found = await self.people_by_keys([index_key(workspace_id, email)])
        return next(iter(found.values()), None)

    async def people_by_keys(self, keys: Iterable[str]) -> dict[str, PersonUpserted]:
        """The people who have these addresses (``index_key``s), by key; two queries."""
        return await _resolve(self._emails, self._people, keys, PersonUpserted)

    async def companies_by_keys(self, keys: Iterable[str]) -> dict[str, CompanyUpserted]:
        """The companies that have these domains (``index_key``s), by key; two queries."""
        return await _resolve(self._domains, self._companies, keys, CompanyUpserted)

    # --- the writer's book --------------------------------------------------------------

    async def load(self, commands: Sequence[RecordCommand]) -> RecordBook:
        """Everything the commands name: their records, those records' addresses and
        domains, the owners of every address and domain named, and remembered names."""
        want = wanted(commands)
        people = await find_by_ids(self._people, want.people)
        companies = await find_by_ids(self._companies, want.companies)
        address_keys = want.addresses | _keys(people.values(), "emails")
        domain_keys = want.domains | _keys(companies.values(), "domains")
        addresses = await find_by_ids(self._emails, address_keys)
        domains = await find_by_ids(self._domains, domain_keys)
        names = await find_by_ids(self._names, want.names) if want.names else {}
        owners = {str(e["record_id"]) for e in addresses.values()} - people.keys()
        people |= await find_by_ids(self._people, owners) if owners else {}
        owners = {str(e["record_id"]) for e in domains.values()} - companies.keys()
        companies |= await find_by_ids(self._companies, owners) if owners else {}
        records = people | companies
        return RecordBook(
            people={i: PersonUpserted.model_validate(d) for i, d in people.items()},
            companies={i: CompanyUpserted.model_validate(d) for i, d in companies.items()},
            addresses={k: str(e["record_id"]) for k, e in addresses.items()},
            domains={k: str(e["record_id"]) for k, e in domains.items()},
            names_seen={k: str(d["name"]) for k, d in names.items()},
            announced={i for i, d in records.items() if d.get("announced")},
            commands={i: tuple(d.get("commands") or ()) for i, d in records.items()},
            stored=set(records),
            stored_keys={("person", k) for k in addresses}
            | {("company", k) for k in domains}
            | {("name", k) for k in names},
        )

    async def save(self, book: RecordBook) -> None:
        """Store what the book changed: records first, then the index entries that point
        at them (a reader never follows an entry to a record not stored yet)."""
        for collection, model in self._by_kind:
            docs: dict[str, Document | None] = {
                i: _record_doc(r, book.commands.get(i, ()))
                for i in book.changed
                if isinstance(r := book.record(i), model)
            }
            await _write(collection, docs, book.stored)
        for kind, collection in (
            ("person", self._emails),
            ("company", self._domains),
            ("name", self._names),
        ):
            stored = {key for k, key in book.stored_keys if k == kind}
            await _write(collection, dict(book.entries(kind)), stored)

    async def mark_announced(self, records: Sequence[Record]) -> None:
        """Remember that these versions were published (each update goes only to its own
        collection: every update is a transaction of its own on FerretDB)."""
        for collection, model in self._by_kind:
            mark = [
                UpdateOne({"_id": record_id(r)}, {"$set": {"announced": True}})
                for r in records
                if isinstance(r, model)
            ]
            if mark:
                await collection.bulk_write(mark, ordered=False)


def _record_doc(record: Record, commands: tuple[str, ...]) -> Document:
    """A record as stored: not announced yet, with the commands that changed it last."""
    return record.model_dump(mode="python") | {"announced": False, "commands": list(commands)}


def _keys(docs: Iterable[Document], field: str) -> frozenset[str]:
    return frozenset(index_key(d["workspace_id"], v) for d in docs for v in d.get(field) or ())


async def _write(
    collection: AsyncCollection[Document], docs: dict[str, Document | None], stored: set[str]
) -> None:
    """New documents inserted together (one transaction on FerretDB), stored ones
    replaced, None ones deleted; all by ``_id``."""
    new = [d | {"_id": i} for i, d in docs.items() if d is not None and i not in stored]
    taken = await insert_new(collection, new)
    writes: list[ReplaceOne[Document] | DeleteOne] = [
        ReplaceOne({"_id": i}, d | {"_id": i}, upsert=True)
        for i, d in docs.items()
        if d is not None and (i in stored or i in taken)
    ]
    writes += [DeleteOne({"_id": i}) for i, d in docs.items() if d is None and i in stored]
    if writes:
        await collection.bulk_write(writes, ordered=False)


async def _resolve(
    index: AsyncCollection[Document],
    records: AsyncCollection[Document],
    keys: Iterable[str],
    model: type[R],
) -> dict[str, R]:
    entries = await find_by_ids(index, keys)
    if not entries:
        return {}
    docs = await find_by_ids(records, {e["record_id"] for e in entries.values()})
    return {
        key: model.model_validate(docs[entry["record_id"]])
        for key, entry in entries.items()
        if entry["record_id"] in docs
    }
