"""Company rosters in MongoDB: one document per company, one writer per document.

The records projection notes each version of a person (``Memberships.note``): it keeps
where the person was last (``company_memberships``, by person id: the records topic is
keyed by record id, so one consumer writes each) and publishes the roster entries that
move them on the rosters topic, keyed by company id. That topic's consumer is the only
writer of each roster (``company_rosters``, by company id; FerretDB 1.x has no atomic
update of one document by several writers, docs/adr/0007). A company's tabs read the
roster by ``_id`` instead of scanning the people collection (docs/adr/0014).
"""

import logging
from collections.abc import Sequence

from pymongo import ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.bus import BulkPublisher
from crm_runtime.mongo import Document, find_by_ids
from crm_runtime.service import Runtime
from crm_schemas import groups
from crm_schemas.base import utcnow
from crm_schemas.records import PersonUpserted
from crm_schemas.timeline import RosterEntry
from timeline_api.domain.rosters import (
    Membership,
    apply_entries,
    membership_of,
    pack,
    packed_emails,
    roster_changes,
    unpack,
)
from timeline_api.store import person_addresses, person_from_doc

GROUP = groups.TIMELINE_ROSTERS
READY = "!ready"
"""The ``_id`` of the document that says every stored person is on their company's
roster: set when the rosters start on an empty read model (or by ``crm-admin
index-timelines``). Without it a company's tabs scan the people collection."""
NOTED_AT_ONCE = 500
"""Stored people noted in one go by ``roster_stored_people``."""
log = logging.getLogger(__name__)


class CompanyRosters:
    """Roster documents in the ``company_rosters`` collection."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.rosters: AsyncCollection[Document] = db["company_rosters"]
        self._people: AsyncCollection[Document] = db["people"]

    async def prepare(self) -> bool:
        """Mark the rosters complete when there is nobody to put on them yet; True when
        they are."""
        if await self.rosters.find_one({"_id": READY}) is not None:
            return True
        if await self._people.find_one({}, {"_id": 1}) is not None:
            log.warning("company rosters not built: company tabs scan people until they are")
            return False
        await self.mark_ready()
        return True

    async def mark_ready(self) -> None:
        """Say every stored person is on their company's roster."""
        await self.rosters.replace_one({"_id": READY}, {"at": utcnow()}, upsert=True)

    async def emails(self, company_id: str) -> list[str] | None:
        """Every address of the company's people; None until the rosters are complete."""
        found = await find_by_ids(self.rosters, [READY, company_id])
        if READY not in found:
            return None
        doc = found.get(company_id)
        return packed_emails(doc["packed"]) if doc is not None else []

    async def record(self, entry: RosterEntry) -> None:
        """Set one person's entry on one roster; a redelivery changes nothing."""
        await self.record_all([entry])

    async def record_all(self, events: Sequence[RosterEntry]) -> None:
        """Set a poll's entries: each roster read once, changed in order, written once."""
        by_company: dict[str, list[RosterEntry]] = {}
        for entry in events:
            by_company.setdefault(entry.company_id, []).append(entry)
        found = await find_by_ids(self.rosters, list(by_company))
        writes = []
        for company_id, entries in by_company.items():
            before = unpack(found[company_id]["packed"]) if company_id in found else {}
            after = apply_entries(before, entries)
            if after != before or company_id not in found:
                writes.append(ReplaceOne({"_id": company_id}, {"packed": pack(after)}, upsert=True))
        if writes:
            await self.rosters.bulk_write(writes, ordered=False)


class Memberships:
    """Where each person was last; publishes the roster entries a new version makes."""

    def __init__(self, db: AsyncDatabase[Document], bulk: BulkPublisher, topic: str) -> None:
        self._memberships: AsyncCollection[Document] = db["company_memberships"]
        self._bulk = bulk
        self._topic = topic

    async def note(self, person: PersonUpserted) -> None:
        """Move a person on the rosters as this version of their record says."""
        await self.note_all([person])

    async def note_all(self, people: Sequence[PersonUpserted]) -> None:
        """Publish the entries these versions make, then remember them (a crash between
        the two publishes the same entries again, which changes nothing)."""
        stored = await find_by_ids(self._memberships, [p.person_id for p in people])
        last = {pid: _membership(doc) for pid, doc in stored.items()}
        changed: dict[str, Membership] = {}
        entries: list[RosterEntry] = []
        for person in people:  # in order: a person's later version moves on from the earlier
            now = membership_of(
                person.company_id, person.merged_into, person_addresses(person), person.updated_at
            )
            before = last.get(person.person_id)
            changes = roster_changes(before, now, person.workspace_id, person.person_id)
            if changes:
                entries += changes
                last[person.person_id] = changed[person.person_id] = now
        await self._bulk.publish_all((self._topic, e.company_id, e) for e in entries)
        if changed:
            await self._memberships.bulk_write(
                [ReplaceOne({"_id": pid}, _doc(m), upsert=True) for pid, m in changed.items()],
                ordered=False,
            )


def _membership(doc: Document) -> Membership:
    return Membership(doc.get("company_id"), tuple(doc.get("emails", ())), doc["version"])


def _doc(membership: Membership) -> Document:
    return {
        "company_id": membership.company_id,
        "emails": list(membership.emails),
        "version": membership.version,
    }


def register_rosters(runtime: Runtime, db: AsyncDatabase[Document]) -> Memberships:
    """Consume the rosters topic into the rosters; returns what the records projection
    calls with each version of a person."""
    rosters = CompanyRosters(db)
    topic = runtime.topics.timeline_rosters
    runtime.consume(topic, GROUP, RosterEntry, rosters.record, many=rosters.record_all)
    return Memberships(db, runtime.bulk, topic)


async def roster_stored_people(db: AsyncDatabase[Document], memberships: Memberships) -> int:
    """Put every stored person on their company's roster, then mark the rosters complete;
    the number of people. For a read model with people from before the rosters existed."""
    count = 0
    chunk: list[PersonUpserted] = []
    async for doc in db["people"].find({}):
        chunk.append(person_from_doc(doc))
        if len(chunk) == NOTED_AT_ONCE:
            await memberships.note_all(chunk)
            count, chunk = count + len(chunk), []
    await memberships.note_all(chunk)
    await CompanyRosters(db).mark_ready()
    return count + len(chunk)
