"""The timeline's projection: Kafka events in, idempotent upserts into the read model.

Each handler is a method of a few lines over the pure core and the ports; the entry point
(``entrypoints.projection``) subscribes them, and ``crm_runtime.delivery.subscribe`` makes
delivery at least once (offsets committed after the write, failures dead-lettered).
After it writes, the projection tells the read model's feed what changed, so a read
model with structures of its own (the heads) keeps them current.
"""

from itertools import groupby

from crm_schemas.calendar import RawEventRemoved, TimelineEvent
from crm_schemas.config import AccountConfigured, ConfigEvent
from crm_schemas.mail import RawMessageRemoved, TimelineMessage
from crm_schemas.outcomes import ItemDropped
from crm_schemas.records import CompanyUpserted, OpportunityUpserted, PersonUpserted
from crm_schemas.sync import SyncStatusChanged
from timeline_api.domain.copies import CopyRemoved
from timeline_api.domain.records import event_record, message_record
from timeline_api.ports.accounts import SyncStatuses
from timeline_api.ports.records import RecordStore
from timeline_api.ports.timelines import ProjectionStore, TimelineFeed


class Projection:
    """The projection's handlers, one per kind of event, over the read model's ports."""

    def __init__(
        self,
        store: ProjectionStore,
        records: RecordStore,
        feed: TimelineFeed,
        statuses: SyncStatuses,
    ) -> None:
        self._store = store
        self._records = records
        self._feed = feed
        self._statuses = statuses

    async def messages(self, events: list[TimelineMessage | RawMessageRemoved]) -> None:
        """Store each message once per workspace, add its mailbox as a source, re-summarise
        its thread from the inputs kept for all its messages (so redelivery never counts
        twice); a whole poll in a few round trips. A withdrawn copy takes its mailbox away
        from the message (the message goes when no mailbox is left) and the thread is
        summarised again. In the poll's order, a stretch of one kind at a time."""
        for removal, stretch in groupby(events, key=lambda e: isinstance(e, RawMessageRemoved)):
            if removal:
                gone = [_removed(e) for e in stretch if isinstance(e, RawMessageRemoved)]
                await self._feed.threads_replaced(await self._store.remove_messages(gone))
            else:
                stored = [message_record(e) for e in stretch if isinstance(e, TimelineMessage)]
                await self._feed.threads_changed(await self._store.store_messages(stored))

    async def message(self, event: TimelineMessage | RawMessageRemoved) -> None:
        """One message, when its batch could not be stored at once."""
        await self.messages([event])

    async def event(self, event: TimelineEvent | RawEventRemoved) -> None:
        """Store the meeting once per workspace, adding its calendar as a source; a removal
        takes that calendar away, and the meeting leaves once no calendar has it."""
        if isinstance(event, RawEventRemoved):
            await self._store.remove_event_source(_removed(event))
        else:
            await self._store.upsert_event(event_record(event))

    async def record(self, event: PersonUpserted | CompanyUpserted | OpportunityUpserted) -> None:
        """Keep the newest version of a record; timelines link by address. This consumer
        is the only writer of people and companies here (their one writer is the enricher,
        docs/adr/0029; the records API waits for this to show its changes). The read
        model hears of every version of a person (their company's people)."""
        if isinstance(event, PersonUpserted):
            await self._records.upsert_person(event)
            await self._feed.people_changed([event])
        elif isinstance(event, CompanyUpserted):
            await self._records.upsert_company(event)
        else:
            await self._records.upsert_opportunity(event)

    async def drops(self, events: list[ItemDropped]) -> None:
        """Remember why items are not on any timeline, for operators to look up."""
        await self._store.record_dropped(events)

    async def dropped(self, event: ItemDropped) -> None:
        """One drop, when its batch could not be stored at once."""
        await self.drops([event])

    async def status(self, event: SyncStatusChanged) -> None:
        """Keep each account's newest sync status, for its owner to read."""
        await self._statuses.record_status(event)

    async def config(self, event: ConfigEvent) -> None:
        """A disconnected account leaves the timelines: what only it brought goes, and the
        threads it touched are summarised again."""
        if isinstance(event, AccountConfigured) and event.disconnected:
            removal = await self._store.remove_account(event.account_id)
            await self._feed.threads_replaced(removal.threads)


def _removed(event: RawMessageRemoved | RawEventRemoved) -> CopyRemoved:
    """A withdrawn copy, at the version it withdraws (docs/adr/0021)."""
    return CopyRemoved(event.item_id, event.account_id, event.removed_at)
