"""The heads read model's documents in MongoDB, each read and replaced by ``_id``.

``timeline_index`` holds one head per index key (docs/adr/0010), ``company_rosters`` one
roster per company (docs/adr/0014), ``company_memberships`` where each person was last
put. Each has one writer per document: the consumer of the topic keyed by that id
(FerretDB 1.x has no atomic update of one document by several writers, docs/adr/0007).
A ready mark (``_id`` ``!ready``) says every stored thread (person) is on the heads
(rosters); without it pages read the threads (people) collection.
"""

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from pymongo import ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_runtime.mongo import Document, find_by_ids
from crm_schemas.base import utcnow
from timeline_api.adapters.timelines.heads import roster_rules
from timeline_api.adapters.timelines.heads.index_rules import Head, pack, unpack
from timeline_api.adapters.timelines.heads.roster_rules import Membership, Roster, packed_emails

READY = "!ready"
"""The ``_id`` of the document that says every stored thread is on the heads (in
``timeline_index``) or every stored person on their company's roster (in
``company_rosters``): set when they start on an empty read model, or by ``crm-admin
index-timelines``."""
log = logging.getLogger(__name__)


def pack_rows(rows: dict[str, str]) -> str:
    """A head's rows as one string, ``<thread id>\t<row>`` per line (a row is JSON, which
    has no raw tab or newline; a thread id has neither)."""
    return "\n".join(f"{thread_id}\t{row}" for thread_id, row in rows.items())


def unpack_rows(packed: str) -> dict[str, str]:
    """The rows that ``pack_rows`` made into a string."""
    return dict(line.split("\t", 1) for line in packed.split("\n")) if packed else {}


def head_from(
    doc: Document | None,
    entries_of: Callable[[str], dict[str, datetime]] = unpack,
    rows_of: Callable[[str], dict[str, str]] = unpack_rows,
) -> Head:
    """A head as stored: ``packed`` entries (``index_rules.pack``, read by ``entries_of``),
    or a list of ``{t: thread id, at: last activity}`` in heads written before entries
    were packed; ``rows`` packed by ``pack_rows`` (read by ``rows_of``), absent from heads
    written before rows were kept."""
    if doc is None:
        return Head()
    bound = doc.get("boundary")
    if "packed" in doc:
        entries = entries_of(doc["packed"])
    else:
        entries = {str(e["t"]): e["at"] for e in doc.get("entries", [])}
    rows = rows_of(doc["rows"]) if doc.get("rows") else {}
    return Head(entries, (bound["at"], str(bound["t"])) if bound else None, rows)


def head_doc(head: Head) -> Document:
    """A head to store: its entries and its rows packed into a string each, its boundary
    a subdocument."""
    bound = head.boundary
    return {
        "packed": pack(head.entries),
        "boundary": {"at": bound[0], "t": bound[1]} if bound else None,
        "rows": pack_rows(head.rows),
    }


async def _replace_all(collection: AsyncCollection[Document], docs: Mapping[str, Document]) -> None:
    if docs:
        writes = [ReplaceOne({"_id": i}, doc, upsert=True) for i, doc in docs.items()]
        await collection.bulk_write(writes, ordered=False)


async def _prepare(
    marks: AsyncCollection[Document], source: AsyncCollection[Document], what: str
) -> bool:
    """Mark ``marks`` ready when ``source`` holds nothing yet; True when it is ready."""
    if await marks.find_one({"_id": READY}) is not None:
        return True
    if await source.find_one({}, {"_id": 1}) is not None:
        log.warning("%s not built: pages scan until `crm-admin index-timelines` runs", what)
        return False
    await _mark_ready(marks)
    return True


async def _mark_ready(marks: AsyncCollection[Document]) -> None:
    # Replicas starting together (the API and the projection) upsert the mark at once;
    # FerretDB does not retry an upsert that lost the race: the mark is there all the same.
    with contextlib.suppress(DuplicateKeyError):
        await marks.replace_one({"_id": READY}, {"at": utcnow()}, upsert=True)


class MongoHeads:
    """Heads in ``timeline_index`` (``heads.ports.HeadStore``)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection: AsyncCollection[Document] = db["timeline_index"]
        self._threads: AsyncCollection[Document] = db["threads"]

    async def heads(self, keys: Sequence[str]) -> dict[str, Head]:
        """The stored heads of these keys."""
        found = await find_by_ids(self.collection, list(keys))
        return {key: head_from(doc) for key, doc in found.items()}

    async def save(self, heads: Mapping[str, Head]) -> None:
        """Replace these heads, in one round trip."""
        await _replace_all(self.collection, {k: head_doc(h) for k, h in heads.items()})

    async def prepare(self) -> bool:
        """Mark the index complete when no thread is stored yet; True when it is."""
        return await _prepare(self.collection, self._threads, "timeline index")

    async def mark_ready(self) -> None:
        """Say every stored thread is on the heads (after announcing them all)."""
        await _mark_ready(self.collection)


class MongoRosters:
    """Rosters in ``company_rosters`` (``heads.ports.RosterStore``), each one JSON string:
    one string costs FerretDB 1.x a ninth of a subdocument per person (docs/adr/0014)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection: AsyncCollection[Document] = db["company_rosters"]
        self._people: AsyncCollection[Document] = db["people"]

    async def rosters(self, company_ids: Sequence[str]) -> dict[str, Roster]:
        """The stored rosters of these companies."""
        found = await find_by_ids(self.collection, list(company_ids))
        return {cid: roster_rules.unpack(doc["packed"]) for cid, doc in found.items()}

    async def save(self, rosters: Mapping[str, Roster]) -> None:
        """Replace these rosters, in one round trip."""
        docs = {cid: {"packed": roster_rules.pack(r)} for cid, r in rosters.items()}
        await _replace_all(self.collection, docs)

    async def emails(self, company_id: str) -> list[str] | None:
        """Every address of the company's people; None until the rosters are complete."""
        found = await find_by_ids(self.collection, [READY, company_id])
        if READY not in found:
            return None
        doc = found.get(company_id)
        return packed_emails(doc["packed"]) if doc is not None else []

    async def prepare(self) -> bool:
        """Mark the rosters complete when nobody is stored yet; True when they are."""
        return await _prepare(self.collection, self._people, "company rosters")

    async def mark_ready(self) -> None:
        """Say every stored person is on their company's roster."""
        await _mark_ready(self.collection)


class MongoMemberships:
    """Where each person was last, in ``company_memberships`` (``heads.ports.MembershipStore``)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection: AsyncCollection[Document] = db["company_memberships"]

    async def memberships(self, person_ids: Sequence[str]) -> dict[str, Membership]:
        """The stored memberships of these people."""
        found = await find_by_ids(self.collection, list(person_ids))
        return {
            pid: Membership(doc.get("company_id"), tuple(doc.get("emails", ())), doc["version"])
            for pid, doc in found.items()
        }

    async def save(self, memberships: Mapping[str, Membership]) -> None:
        """Replace these memberships, in one round trip."""
        docs = {
            pid: {"company_id": m.company_id, "emails": list(m.emails), "version": m.version}
            for pid, m in memberships.items()
        }
        await _replace_all(self.collection, docs)


async def forget_ready(db: AsyncDatabase[Document]) -> None:
    """Take the ready marks away: heads and rosters that were not fed for a while (another
    read model ran) are no longer complete, so pages read the collections until ``crm-admin
    index-timelines`` has put everything back on them."""
    for name in ("timeline_index", "company_rosters"):
        await db[name].delete_one({"_id": READY})
