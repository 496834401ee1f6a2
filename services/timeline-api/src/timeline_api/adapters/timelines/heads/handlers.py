"""The heads read model's handlers: what the projection tells it, and its two consumers.

After the projection re-summarises a thread, ``HeadsFeed`` announces the thread's last
activity (and its row) under each of its index keys on the index topic, keyed by the
index key; after a person's version, it publishes the roster entries that move them on
the rosters topic, keyed by company id (docs/adr/0010, 0014). ``IndexWriter`` and
``RosterWriter`` consume those topics: each is then the only writer of each head and
each roster. Every step is idempotent: a redelivery sets the same values again.
"""

from collections.abc import Iterable, Sequence

from crm_runtime.bus import Outgoing
from crm_schemas.base import to_milliseconds
from crm_schemas.records import PersonUpserted
from timeline_api.adapters.timelines.heads.events import RosterEntry, ThreadIndexed
from timeline_api.adapters.timelines.heads.index_rules import (
    HEAD_SIZE,
    Head,
    Update,
    apply_all,
    thread_keys,
)
from timeline_api.adapters.timelines.heads.ports import (
    HeadStore,
    MembershipStore,
    Outbox,
    RosterStore,
)
from timeline_api.adapters.timelines.heads.roster_rules import (
    Membership,
    Roster,
    apply_entries,
    membership_of,
    roster_changes,
)
from timeline_api.domain.model import ThreadSummary
from timeline_api.domain.records import person_addresses
from timeline_api.ports.timelines import ThreadChange

ROW_MAX_CHARS = 16_384
"""A thread's row is announced (and kept in heads) up to this size; a longer one (a
thread with hundreds of participants) is read from the threads collection instead, so
neither an index event nor a head grows without bound."""


class IndexWriter:
    """Consumes the index topic into the heads: the only writer of each head."""

    def __init__(self, heads: HeadStore, head_size: int = HEAD_SIZE) -> None:
        self._heads = heads
        self._head_size = head_size

    async def record(self, event: ThreadIndexed) -> None:
        """Set one thread's last activity in one head; a redelivery changes nothing."""
        await self.record_all([event])

    async def record_all(self, events: Sequence[ThreadIndexed]) -> None:
        """Set a poll's last activities: each head read once, changed in order, written
        once (a company's domain key gets one entry per thread of a busy poll)."""
        updates: dict[str, list[Update]] = {}
        for event in events:
            at = None if event.gone else to_milliseconds(event.last_activity)  # as stored
            updates.setdefault(event.key, []).append((event.thread_id, at, event.row))
        found = await self._heads.heads(list(updates))
        changed: dict[str, Head] = {}
        for key, changes in updates.items():
            before = found.get(key, Head())
            after = apply_all(before, changes, self._head_size)
            if after != before or key not in found:
                changed[key] = after
        await self._heads.save(changed)


class RosterWriter:
    """Consumes the rosters topic into the rosters: the only writer of each roster."""

    def __init__(self, rosters: RosterStore) -> None:
        self._rosters = rosters

    async def record(self, entry: RosterEntry) -> None:
        """Set one person's entry on one roster; a redelivery changes nothing."""
        await self.record_all([entry])

    async def record_all(self, entries: Sequence[RosterEntry]) -> None:
        """Set a poll's entries: each roster read once, changed in order, written once."""
        by_company: dict[str, list[RosterEntry]] = {}
        for entry in entries:
            by_company.setdefault(entry.company_id, []).append(entry)
        found = await self._rosters.rosters(list(by_company))
        changed: dict[str, Roster] = {}
        for company_id, moves in by_company.items():
            before = found.get(company_id, {})
            after = apply_entries(before, moves)
            if after != before or company_id not in found:
                changed[company_id] = after
        await self._rosters.save(changed)


class HeadsFeed:
    """``ports.timelines.TimelineFeed`` of the heads: announces threads to the index topic and moves
    people on the rosters topic."""

    def __init__(
        self, outbox: Outbox, memberships: MembershipStore, index_topic: str, rosters_topic: str
    ) -> None:
        self._outbox = outbox
        self._memberships = memberships
        self._index_topic = index_topic
        self._rosters_topic = rosters_topic

    async def threads_changed(self, summaries: Sequence[ThreadSummary]) -> None:
        """Announce each thread under each of its keys, with its row (as stored)."""
        await self._outbox.publish_all(self._announcements(summaries, with_rows=True))

    async def threads_replaced(self, changes: Sequence[ThreadChange]) -> None:
        """Announce each thread's new state under its keys, and its leaving every key it
        lost (all of them, when it has no message left), so no head lists it there."""
        outgoing: list[Outgoing] = []
        for change in changes:
            after = _events(change.after, _row(change.after)) if change.after else []
            kept = {key for key, _ in after}
            if change.before is not None:
                lost = [e for k, e in _events(change.before, None) if k not in kept]
                outgoing += [
                    (self._index_topic, e.key, e.model_copy(update={"gone": True})) for e in lost
                ]
            outgoing += [(self._index_topic, key, event) for key, event in after]
        await self._outbox.publish_all(outgoing)

    async def people_changed(self, people: Sequence[PersonUpserted]) -> None:
        """Publish the roster entries these versions make, then remember where each person
        is now (a crash between the two publishes the same entries again, which changes
        nothing)."""
        last = await self._memberships.memberships([p.person_id for p in people])
        changed: dict[str, Membership] = {}
        entries: list[RosterEntry] = []
        for person in people:  # in order: a person's later version moves on from the earlier
            now = membership_of(
                person.company_id, person.merged_into, person_addresses(person), person.updated_at
            )
            moves = roster_changes(
                last.get(person.person_id), now, person.workspace_id, person.person_id
            )
            if moves:
                entries += moves
                last[person.person_id] = changed[person.person_id] = now
        await self._outbox.publish_all((self._rosters_topic, e.company_id, e) for e in entries)
        await self._memberships.save(changed)

    def _announcements(
        self, summaries: Iterable[ThreadSummary], *, with_rows: bool
    ) -> list[Outgoing]:
        return [
            (self._index_topic, key, event)
            for summary in summaries
            for key, event in _events(summary, _row(summary) if with_rows else None)
        ]


def _events(summary: ThreadSummary, row: str | None) -> list[tuple[str, ThreadIndexed]]:
    """A thread's announcement under each of its keys (its row made once for them all)."""
    return [
        (
            key,
            ThreadIndexed(
                key=key,
                workspace_id=summary.workspace_id,
                thread_id=summary.thread_id,
                last_activity=summary.last_activity,
                row=row,
            ),
        )
        for key in thread_keys(
            summary.workspace_id, summary.participant_emails, summary.company_domains
        )
    ]


def _row(summary: ThreadSummary) -> str | None:
    """The row a head may keep of a thread: as the threads collection stores it, unless
    it is longer than ``ROW_MAX_CHARS``."""
    row = summary.model_dump_json()
    return row if len(row) <= ROW_MAX_CHARS else None
