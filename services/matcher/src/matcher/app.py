"""The matcher: drops what must never be shared, links the rest to known people."""

from crm_runtime.bus import publish
from crm_runtime.service import Runtime, build_runtime, follow_config
from crm_schemas.calendar import MatchedEvent, RawCalendarItem, RawEvent, RawEventRemoved
from crm_schemas.config import AccountConfigured, WorkspaceConfigured
from crm_schemas.ids import thread_id
from crm_schemas.mail import MatchedMessage, Participant, RawMessage
from crm_schemas.outcomes import ItemDropped
from crm_schemas.records import RecordEvent
from matcher.adapters.contacts import Contacts
from matcher.rules.decide import Dropped, Kept, decide_event, decide_message, thread_root
from matcher.rules.internal import is_internal_address
from matcher.rules.roles import role_list
from matcher.settings import MatcherSettings

SERVICE = "matcher"


class Matcher:
    """The matcher's handlers, over its runtime and its index of known people."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._config = runtime.config
        self._contacts = Contacts(runtime.db)

    async def _linked(self, workspace: WorkspaceConfigured, kept: Kept) -> tuple[Participant, ...]:
        people = await self._contacts.lookup(
            workspace.workspace_id, [p.email for p in kept.participants]
        )
        return tuple(
            Participant(
                email=p.email,
                name=p.name,
                roles=p.roles,
                internal=is_internal_address(p.email, workspace.domains),
                person_id=people.get(p.email),
                response=p.response,
            )
            for p in kept.participants
        )

    async def _drop(
        self, item_id: str, account: AccountConfigured, kind: str, natural_id: str, dropped: Dropped
    ) -> None:
        outcome = ItemDropped(
            item_id=item_id,
            workspace_id=account.workspace_id,
            account_id=account.account_id,
            kind="message" if kind == "message" else "event",
            natural_id=natural_id,
            reason=dropped.reason,
            rule=dropped.rule,
            detail=dropped.detail,
        )
        await publish(self._runtime.broker, self._runtime.topics.dropped, item_id, outcome)

    async def on_raw_message(self, message: RawMessage) -> None:
        """Drop a message that must never be shared, or link its participants and pass it on."""
        account, workspace = await self._config.account_in_workspace(message.account_id)
        roles = role_list(workspace.role_addresses_add, workspace.role_addresses_remove)
        decision = decide_message(
            message, workspace.domains, account.mail, account.owner_addresses, roles
        )
        if isinstance(decision, Dropped):
            await self._drop(message.item_id, account, "message", message.message_id, decision)
            return
        matched = MatchedMessage(
            message=message,
            thread_id=thread_id(message.workspace_id, thread_root(message)),
            sent_by_owner=decision.sent_by_owner,
            participants=await self._linked(workspace, decision),
        )
        await publish(
            self._runtime.broker, self._runtime.topics.mail_matched, message.item_id, matched
        )

    async def on_raw_event(self, event: RawEvent | RawEventRemoved) -> None:
        """Drop a meeting that must never be shared, or link its participants and pass it on.

        A removal carries no content and passes on as it is, under the same key.
        """
        if isinstance(event, RawEventRemoved):
            topic = self._runtime.topics.calendar_matched
            await publish(self._runtime.broker, topic, event.item_id, event)
            return
        account, workspace = await self._config.account_in_workspace(event.account_id)
        decision = decide_event(event, workspace.domains, account.mail.blocklist)
        if isinstance(decision, Dropped):
            await self._drop(event.item_id, account, "event", event.ical_uid, decision)
            await self._withdraw(event)
            return
        matched = MatchedEvent(event=event, participants=await self._linked(workspace, decision))
        await publish(
            self._runtime.broker, self._runtime.topics.calendar_matched, event.item_id, matched
        )

    async def _withdraw(self, event: RawEvent) -> None:
        """A dropped meeting may have been synced in an earlier version (before it became
        internal, or its attendee blocked): its removal follows under the same key, so the
        timeline takes this calendar away from it. A meeting never synced removes nothing."""
        removal = RawEventRemoved(
            item_id=event.item_id,
            workspace_id=event.workspace_id,
            account_id=event.account_id,
            ical_uid=event.ical_uid,
            recurrence_id=event.recurrence_id,
            reason="dropped",
        )
        topic = self._runtime.topics.calendar_matched
        await publish(self._runtime.broker, topic, event.item_id, removal)

    async def on_record(self, record: RecordEvent) -> None:
        """Remember which person each address belongs to."""
        if record.type == "person":
            await self._contacts.remember(record)


def build(settings: MatcherSettings) -> Runtime:
    """The matcher's runtime with every subscriber wired."""
    runtime = build_runtime(SERVICE, settings)
    matcher = Matcher(runtime)
    follow_config(runtime)
    topics = runtime.topics
    for topic, contract, handler, group in (
        (topics.mail_raw, RawMessage, matcher.on_raw_message, SERVICE),
        (topics.calendar_raw, RawCalendarItem, matcher.on_raw_event, SERVICE),
        (topics.records, RecordEvent, matcher.on_record, f"{SERVICE}.records"),
    ):
        runtime.consume(topic, group, contract, handler)
    return runtime
