"""The timeline's projection: Kafka events in, idempotent upserts into the read model.

Each handler is a few lines over the pure core; ``crm_runtime.delivery.subscribe`` makes
delivery at least once (offsets committed after the write, failures dead-lettered).
"""

from typing import Any

from crm_runtime.delivery import ManyHandler
from crm_runtime.service import Runtime
from crm_schemas import groups
from crm_schemas.calendar import RawEventRemoved, TimelineCalendarItem, TimelineEvent
from crm_schemas.config import AccountConfigured, ConfigEvent
from crm_schemas.mail import TimelineMessage
from crm_schemas.outcomes import ItemDropped
from crm_schemas.records import CompanyUpserted, OpportunityUpserted, PersonUpserted, RecordEvent
from crm_schemas.sync import SyncStatusChanged
from timeline_api.account_removal import remove_account_items
from timeline_api.directory import Directory
from timeline_api.domain.records import event_record, message_record
from timeline_api.message_writes import MessageWrites
from timeline_api.record_writes import RecordIndex
from timeline_api.rosters import register_rosters
from timeline_api.store import TimelineStore
from timeline_api.timeline_index import register_timeline_index

GROUP = groups.TIMELINE


def register_projection(runtime: Runtime, store: TimelineStore, directory: Directory) -> None:
    """Subscribe the projection's handlers, one consumer group per topic under ``GROUP``.

    Each consumes in batches: concurrent across keys, in order within a key.
    """
    announce = register_timeline_index(runtime, store.db)
    memberships = register_rosters(runtime, store.db)

    messages = MessageWrites(store)

    async def project_messages(events: list[TimelineMessage]) -> None:
        """Store each message once per workspace, add its mailbox as a source, re-summarise
        its thread from the inputs kept for all its messages (so redelivery never counts
        twice); a whole poll in a few round trips."""
        summaries = await messages.store_messages([message_record(e) for e in events])
        await announce(*summaries)  # to the timeline index

    async def project_message(event: TimelineMessage) -> None:
        """One message, when its batch could not be stored at once."""
        await project_messages([event])

    async def project_event(event: TimelineEvent | RawEventRemoved) -> None:
        """Store the meeting once per workspace, adding its calendar as a source; a removal
        takes that calendar away, and the meeting leaves once no calendar has it."""
        if isinstance(event, RawEventRemoved):
            await store.remove_event_source(event.item_id, event.account_id)
        else:
            await store.upsert_event(event_record(event))

    index = RecordIndex(store.db)

    async def project_record(event: PersonUpserted | CompanyUpserted | OpportunityUpserted) -> None:
        """Keep the newest version of a record; timelines link by address. Addresses and
        domains nobody owns yet are indexed for the records API's conflict checks; a
        person's company roster follows them."""
        ws = event.workspace_id
        if isinstance(event, PersonUpserted):
            if await store.upsert_person(event):
                owner = event.merged_into or event.person_id
                await index.point("person", ws, event.emails, owner, take=False)
            # Even when not stored: the records API stores its own versions before this.
            await memberships.note(event)
        elif isinstance(event, CompanyUpserted):
            if await store.upsert_company(event):
                await index.point("company", ws, event.domains, event.company_id, take=False)
        else:
            await store.upsert_opportunity(event)

    async def project_drops(events: list[ItemDropped]) -> None:
        """Remember why items are not on any timeline, for operators to look up."""
        await store.record_dropped(events)

    async def project_dropped(event: ItemDropped) -> None:
        """One drop, when its batch could not be stored at once."""
        await store.record_dropped([event])

    async def project_status(event: SyncStatusChanged) -> None:
        """Keep each account's newest sync status, for its owner to read."""
        await directory.record_status(event)

    async def project_config(event: ConfigEvent) -> None:
        """A disconnected account leaves the timelines: what only it brought goes."""
        if isinstance(event, AccountConfigured) and event.disconnected:
            await remove_account_items(store, event.account_id, announce)

    topics = runtime.topics
    routes: tuple[tuple[str, str, Any, Any, ManyHandler | None], ...] = (
        (topics.timeline_messages, "messages", TimelineMessage, project_message, project_messages),
        (topics.timeline_events, "events", TimelineCalendarItem, project_event, None),
        (topics.records, "records", RecordEvent, project_record, None),
        (topics.dropped, "dropped", ItemDropped, project_dropped, project_drops),
        (topics.sync_status, "status", SyncStatusChanged, project_status, None),
        (topics.config, "config", ConfigEvent, project_config, None),
    )
    for topic, name, contract, handler, many in routes:
        runtime.consume(topic, f"{GROUP}.{name}", contract, handler, many=many)
