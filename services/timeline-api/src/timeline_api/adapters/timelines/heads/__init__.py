"""The heads read model: threads tabs read by ``_id`` from an index of heads and from
company rosters, for FerretDB, which answers nothing else without a scan (docs/adr/0007,
0010, 0014, 0015). ``TIMELINE_READ_MODEL=heads`` (the default).

- ``index_rules``, ``roster_rules``: its pure rules (heads cut with a boundary, pages
  merged from heads; rosters moved by a person's versions);
- ``events``: ``ThreadIndexed`` and ``RosterEntry``, the events it sends itself;
- ``handlers``: ``HeadsFeed`` (what the projection tells it), ``IndexWriter`` and
  ``RosterWriter`` (its consumers), over the ports in ``ports``;
- ``mongo``: its documents in MongoDB; ``memory``: the same in memory, for tests;
- ``reader``: ``HeadsTimelines``, the pages; ``backfill``: ``crm-admin index-timelines``.
"""

from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document
from crm_runtime.service import Runtime
from crm_schemas import groups
from crm_schemas.topics import Topics
from timeline_api.adapters.timelines.heads.backfill import (
    index_stored_threads,
    roster_stored_people,
)
from timeline_api.adapters.timelines.heads.events import RosterEntry, ThreadIndexed
from timeline_api.adapters.timelines.heads.handlers import HeadsFeed, IndexWriter, RosterWriter
from timeline_api.adapters.timelines.heads.mongo import MongoHeads, MongoMemberships, MongoRosters
from timeline_api.adapters.timelines.heads.ports import Outbox
from timeline_api.adapters.timelines.heads.reader import HeadsTimelines
from timeline_api.adapters.timelines.indexed import IndexedTimelines

INDEX_GROUP = groups.TIMELINE_INDEX
ROSTERS_GROUP = groups.TIMELINE_ROSTERS


class HeadsReadModel:
    """The heads read model as the service wires it: its reader, its feed, its two
    consumers, its start-up and its backfill."""

    def __init__(self, db: AsyncDatabase[Document], outbox: Outbox, topics: Topics) -> None:
        self._db = db
        self._topics = topics
        self.heads = MongoHeads(db)
        self.rosters = MongoRosters(db)
        self.reader = HeadsTimelines(db, IndexedTimelines(db), self.rosters)
        self.feed = HeadsFeed(
            outbox, MongoMemberships(db), topics.timeline_index, topics.timeline_rosters
        )

    def subscribe(self, runtime: Runtime) -> None:
        """Consume the index and rosters topics into the heads and the rosters."""
        index, rosters = IndexWriter(self.heads), RosterWriter(self.rosters)
        topics = self._topics
        runtime.consume(
            topics.timeline_index, INDEX_GROUP, ThreadIndexed, index.record, many=index.record_all
        )
        runtime.consume(
            topics.timeline_rosters,
            ROSTERS_GROUP,
            RosterEntry,
            rosters.record,
            many=rosters.record_all,
        )

    async def prepare(self) -> None:
        """Mark the heads and the rosters complete when nothing is stored yet."""
        await self.heads.prepare()
        await self.rosters.prepare()

    async def backfill(self) -> dict[str, int]:
        """Put every stored thread on the heads and every stored person on their company's
        roster (a read model from before they existed); how many of each."""
        return {
            "threads": await index_stored_threads(self._db, self.feed),
            "people": await roster_stored_people(self._db, self.feed),
        }
