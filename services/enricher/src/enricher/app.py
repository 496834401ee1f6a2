"""The enricher: creates people and companies where allowed, and emits timeline records.

Matched items are handled a poll at a time (``enricher.linking``): config read once per
account, the indexes and records read in a few queries, the people seen told to the
records' one writer and the timeline records published together. A batch that fails is
handled again one item at a time.

The writer (``enricher.owner``) is the only component that writes people and companies
(docs/adr/0029): it applies the people seen here and the records API's changes, in the
order each workspace's commands were sent, and announces every version on the records
topic.
"""

import asyncio
from collections.abc import Iterable

from crm_runtime.bus import Outgoing
from crm_runtime.service import Runtime, build_runtime, follow_config
from crm_schemas import groups
from crm_schemas.calendar import MatchedCalendarItem, MatchedEvent, RawEventRemoved, TimelineEvent
from crm_schemas.config import AccountConfigured, WorkspaceConfigured
from crm_schemas.mail import (
    MatchedMailItem,
    MatchedMessage,
    RawMessageRemoved,
    ThreadsMerged,
    TimelineMessage,
)
from crm_schemas.record_commands import PersonSeen, RecordCommand
from enricher.adapters.records import Records
from enricher.linking import Linker, ToLink
from enricher.owner.handler import RecordOwner
from enricher.rules.creation import creates_people_from_message
from enricher.settings import EnricherSettings

SERVICE = "enricher"
Config = tuple[AccountConfigured, WorkspaceConfigured]


class Enricher:
    """The enricher's handlers, over its runtime and its records."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._config = runtime.config
        self.records = Records(runtime.db)
        self._linker = Linker(self.records)

    async def _configs(self, account_ids: Iterable[str]) -> dict[str, Config]:
        """Each account with its workspace, read once per batch (RetryLater if missing)."""
        wanted = list(dict.fromkeys(account_ids))
        found = await asyncio.gather(*(self._config.account_in_workspace(a) for a in wanted))
        return dict(zip(wanted, found, strict=True))

    async def _publish(self, seen: list[PersonSeen], outgoing: list[Outgoing]) -> None:
        """The people seen, to the records' writer (keyed by workspace, in order), with the
        timeline records, published together; then remembered as told."""
        topic = self._runtime.topics.record_commands
        told: list[Outgoing] = [(topic, s.workspace_id, s) for s in seen]
        await self._runtime.bulk.publish_all([*told, *outgoing])
        self._linker.memory.remember(seen)

    async def on_matched_messages(self, given: list[MatchedMailItem]) -> None:
        """Create the people and companies the messages allow, and put them on the
        timelines. A withdrawn copy passes on as it is, under its thread; threads the
        matcher joined pass on as they are, keyed by the thread that goes, in order with
        its messages (docs/adr/0027)."""
        batch = [m for m in given if isinstance(m, MatchedMessage)]
        configs = await self._configs(m.message.account_id for m in batch)
        items = []
        for matched in batch:
            account, workspace = configs[matched.message.account_id]
            create = creates_people_from_message(
                account.mail.contact_creation, matched.sent_by_owner
            )
            items.append(ToLink(account, workspace, matched.participants, create))
        linked, seen = await self._linker.link(items)
        # Keyed by thread: one timeline consumer owns a thread, in order (docs/adr/0007).
        topic = self._runtime.topics.timeline_messages
        linked_messages = iter(zip(batch, items, linked, strict=True))
        outgoing: list[Outgoing] = []
        for event in given:
            if isinstance(event, ThreadsMerged):
                outgoing.append((topic, event.from_thread_id, event))
                continue
            if isinstance(event, RawMessageRemoved):
                outgoing.append((topic, event.thread_id, event))
                continue
            matched, item, participants = next(linked_messages)
            record = TimelineMessage(
                message=matched.message,
                thread_id=matched.thread_id,
                sent_by_owner=matched.sent_by_owner,
                visibility=item.account.mail.visibility.value,
                owner_member_id=item.account.owner_member_id,
                participants=participants,
            )
            outgoing.append((topic, matched.thread_id, record))
        await self._publish(seen, outgoing)

    async def on_matched_message(self, matched: MatchedMailItem) -> None:
        """One message, when its batch could not be handled at once."""
        await self.on_matched_messages([matched])

    async def on_matched_events(self, batch: list[MatchedEvent | RawEventRemoved]) -> None:
        """Create the people and companies the meetings allow, and put them on the
        timelines. A removal passes on to the timelines as it is, under the same key."""
        meetings = [m for m in batch if isinstance(m, MatchedEvent)]
        configs = await self._configs(m.event.account_id for m in meetings)
        items = []
        for meeting in meetings:
            account, workspace = configs[meeting.event.account_id]
            create = account.calendar.contact_creation
            items.append(ToLink(account, workspace, meeting.participants, create))
        linked, seen = await self._linker.link(items)
        results = iter(zip(items, linked, strict=True))  # in the order of ``meetings``
        topic = self._runtime.topics.timeline_events
        outgoing: list[Outgoing] = []
        for matched in batch:
            if isinstance(matched, RawEventRemoved):
                outgoing.append((topic, matched.item_id, matched))
                continue
            item, participants = next(results)
            record = TimelineEvent(
                event=matched.event,
                visibility=item.account.calendar.visibility.value,
                owner_member_id=item.account.owner_member_id,
                participants=participants,
            )
            outgoing.append((topic, matched.event.item_id, record))
        await self._publish(seen, outgoing)

    async def on_matched_event(self, matched: MatchedEvent | RawEventRemoved) -> None:
        """One meeting, when its batch could not be handled at once."""
        await self.on_matched_events([matched])


def build(settings: EnricherSettings) -> Runtime:
    """The enricher's runtime with every subscriber wired."""
    runtime = build_runtime(SERVICE, settings)
    enricher = Enricher(runtime)
    follow_config(runtime)
    topics = runtime.topics
    runtime.consume(
        topics.mail_matched,
        groups.ENRICHER,
        MatchedMailItem,
        enricher.on_matched_message,
        many=enricher.on_matched_messages,
    )
    runtime.consume(
        topics.calendar_matched,
        groups.ENRICHER,
        MatchedCalendarItem,
        enricher.on_matched_event,
        many=enricher.on_matched_events,
    )
    owner = RecordOwner(enricher.records, runtime.bulk, topics)
    runtime.consume(
        topics.record_commands,
        groups.ENRICHER_COMMANDS,
        RecordCommand,
        owner.on_command,
        many=owner.on_commands,
    )
    return runtime
