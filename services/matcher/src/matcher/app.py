"""The matcher: drops what must never be shared, links the rest to known people.

A dropped copy of an item (one account's message or meeting) is also withdrawn: a removal
follows under the item's key, so a copy synced before (under other settings, before a
replay) leaves the timelines. The same handlers consume the raw topics and, in consumer
groups of their own, the replay topics (docs/adr/0022).

Raw items are handled a poll at a time: each account's and workspace's config is read
once per batch, every address of the batch is looked up in one query, the kept messages
are joined to their conversations in the matcher's thread index (``conversations``),
and the outputs are published together (concurrently across keys, in order within one).
A batch that fails is handled again one item at a time (``crm_runtime.delivery``).
"""

import asyncio
from collections.abc import Iterable

from crm_runtime.bus import Outgoing
from crm_runtime.service import Runtime, build_runtime, follow_config
from crm_schemas import groups
from crm_schemas.calendar import MatchedEvent, RawCalendarItem, RawEvent, RawEventRemoved
from crm_schemas.config import AccountConfigured, WorkspaceConfigured
from crm_schemas.ids import thread_id
from crm_schemas.mail import (
    MatchedMessage,
    Participant,
    RawMessage,
    RawMessageRemoved,
    ThreadsMerged,
)
from crm_schemas.outcomes import ItemDropped
from crm_schemas.records import RecordEvent
from matcher.adapters.contacts import Contacts
from matcher.adapters.thread_index import MongoThreadIndex
from matcher.conversations import ThreadJoiner
from matcher.rules.decide import (
    Dropped,
    Kept,
    decide_event,
    decide_message,
    from_disconnected_account,
)
from matcher.rules.internal import is_internal_address
from matcher.rules.roles import role_list
from matcher.settings import MatcherSettings

SERVICE = "matcher"
Config = tuple[AccountConfigured, WorkspaceConfigured]


def _dropped(
    item_id: str, account: AccountConfigured, kind: str, natural_id: str, dropped: Dropped
) -> Outgoing:
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
    return "dropped", item_id, outcome


def _linked(
    workspace: WorkspaceConfigured, kept: Kept, people: dict[str, str]
) -> tuple[Participant, ...]:
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


class Matcher:
    """The matcher's handlers, over its runtime and its index of known people."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._config = runtime.config
        self._contacts = Contacts(runtime.db)
        self._threads = ThreadJoiner(MongoThreadIndex(runtime.db))

    async def _configs(self, account_ids: Iterable[str]) -> dict[str, Config]:
        """Each account with its workspace, read once per batch (RetryLater if missing)."""
        wanted = list(dict.fromkeys(account_ids))
        found = await asyncio.gather(*(self._config.account_in_workspace(a) for a in wanted))
        return dict(zip(wanted, found, strict=True))

    async def _people(
        self, kept: list[tuple[WorkspaceConfigured, Kept]]
    ) -> dict[str, dict[str, str]]:
        """Person id by address per workspace, for every kept item of the batch at once."""
        wanted: dict[str, list[str]] = {}
        for workspace, decision in kept:
            wanted.setdefault(workspace.workspace_id, []).extend(
                p.email for p in decision.participants
            )
        return await self._contacts.lookup_many(wanted)

    async def _send(self, outgoing: list[Outgoing]) -> None:
        topics = self._runtime.topics
        names = {
            "dropped": topics.dropped,
            "mail": topics.mail_matched,
            "calendar": topics.calendar_matched,
        }
        await self._runtime.bulk.publish_all([(names[t], k, e) for t, k, e in outgoing])

    async def on_raw_messages(self, messages: list[RawMessage]) -> None:
        """Drop the messages that must never be shared (and withdraw their copies from the
        thread they would be on), link the others' participants, join them to their
        conversations and pass them on."""
        configs = await self._configs(m.account_id for m in messages)
        decided: list[tuple[RawMessage, Config, Kept | Dropped]] = []
        for message in messages:
            account, workspace = configs[message.account_id]
            roles = role_list(workspace.role_addresses_add, workspace.role_addresses_remove)
            decision = from_disconnected_account(account) or decide_message(
                message, workspace.domains, account.mail, account.owner_addresses, roles
            )
            decided.append((message, (account, workspace), decision))
        people = await self._people([(cfg[1], d) for _, cfg, d in decided if isinstance(d, Kept)])
        threads = await self._threads.threads(
            [m for m, _, d in decided if isinstance(d, Kept)],
            [m for m, _, d in decided if isinstance(d, Dropped)],
        )
        outgoing: list[Outgoing] = []
        for message, (account, workspace), decision in decided:
            thread = threads.ids[message.item_id]
            if isinstance(decision, Dropped):
                outgoing.append(
                    _dropped(message.item_id, account, "message", message.message_id, decision)
                )
                outgoing.append(("mail", message.item_id, _mail_withdrawal(message, thread)))
                continue
            matched = MatchedMessage(
                message=message,
                thread_id=thread,
                sent_by_owner=decision.sent_by_owner,
                participants=_linked(workspace, decision, people.get(workspace.workspace_id, {})),
            )
            outgoing.append(("mail", message.item_id, matched))
        outgoing += [("mail", m.from_thread_id, m) for m in _merged(threads.merges)]
        await self._send(outgoing)
        for workspace_id, joined in threads.merges.items():
            await self._threads.announced(workspace_id, joined)

    async def on_raw_message(self, message: RawMessage) -> None:
        """One message, when its batch could not be handled at once."""
        await self.on_raw_messages([message])

    async def on_raw_events(self, events: list[RawEvent | RawEventRemoved]) -> None:
        """Drop the meetings that must never be shared, link the others' participants and
        pass them on. A removal carries no content and passes on as it is, under its key."""
        configs = await self._configs(
            e.account_id for e in events if not isinstance(e, RawEventRemoved)
        )
        decided: list[tuple[RawEvent | RawEventRemoved, Kept | Dropped | None]] = []
        for event in events:
            if isinstance(event, RawEventRemoved):
                decided.append((event, None))
                continue
            account, workspace = configs[event.account_id]
            verdict = from_disconnected_account(account) or decide_event(
                event, workspace.domains, account.mail.blocklist
            )
            decided.append((event, verdict))
        people = await self._people(
            [(configs[e.account_id][1], d) for e, d in decided if isinstance(d, Kept)]
        )
        outgoing: list[Outgoing] = []
        for event, decision in decided:
            if decision is None:
                outgoing.append(("calendar", event.item_id, event))
            elif isinstance(decision, Dropped):
                account = configs[event.account_id][0]
                assert isinstance(event, RawEvent)
                outgoing.append(_dropped(event.item_id, account, "event", event.ical_uid, decision))
                outgoing.append(("calendar", event.item_id, _withdrawal(event)))
            else:
                workspace = configs[event.account_id][1]
                linked = _linked(workspace, decision, people.get(workspace.workspace_id, {}))
                assert isinstance(event, RawEvent)
                outgoing.append(
                    ("calendar", event.item_id, MatchedEvent(event=event, participants=linked))
                )
        await self._send(outgoing)

    async def on_raw_event(self, event: RawEvent | RawEventRemoved) -> None:
        """One meeting, when its batch could not be handled at once."""
        await self.on_raw_events([event])

    async def on_record(self, record: RecordEvent) -> None:
        """Remember which person each address belongs to."""
        if record.type == "person":
            await self._contacts.remember(record)


def _merged(merges: dict[str, dict[str, str]]) -> list[ThreadsMerged]:
    """The threads to join, as the timeline hears of them: each under its thread ids."""
    return [
        ThreadsMerged(
            workspace_id=workspace_id,
            into_thread_id=thread_id(workspace_id, into),
            from_thread_id=thread_id(workspace_id, root),
        )
        for workspace_id, joined in merges.items()
        for root, into in sorted(joined.items())
    ]


def _withdrawal(event: RawEvent) -> RawEventRemoved:
    """A dropped meeting may have been synced in an earlier version (before it became
    internal, or its attendee blocked), or under other settings before a replay: its
    removal follows under the same key, so the timeline takes this calendar away from it.
    A meeting never synced removes nothing. Its version is the dropped copy's: it never
    takes away a newer version (docs/adr/0021)."""
    return RawEventRemoved(
        item_id=event.item_id,
        workspace_id=event.workspace_id,
        account_id=event.account_id,
        ical_uid=event.ical_uid,
        recurrence_id=event.recurrence_id,
        reason="dropped",
        removed_at=event.fetched_at,
    )


def _mail_withdrawal(message: RawMessage, thread: str) -> RawMessageRemoved:
    """A dropped message may have been synced from this mailbox under other settings (a
    replay after a blocklist, an excluded folder, a new release of a rule): the removal
    takes this mailbox away from it on the timeline. A message never synced from it
    removes nothing. Its version is the dropped copy's (docs/adr/0021)."""
    return RawMessageRemoved(
        item_id=message.item_id,
        workspace_id=message.workspace_id,
        account_id=message.account_id,
        message_id=message.message_id,
        thread_id=thread,
        folder=message.folder,
        reason="dropped",
        removed_at=message.fetched_at,
    )


def build(settings: MatcherSettings) -> Runtime:
    """The matcher's runtime with every subscriber wired."""
    runtime = build_runtime(SERVICE, settings)
    matcher = Matcher(runtime)
    follow_config(runtime)
    topics = runtime.topics
    # Live traffic and replays through the same handlers; each replay topic in a group of
    # its own, so live items never wait behind a replay (docs/adr/0022).
    for topic, group in (
        (topics.mail_raw, groups.MATCHER),
        (topics.mail_replay, groups.MATCHER_REPLAY_MAIL),
    ):
        runtime.consume(
            topic, group, RawMessage, matcher.on_raw_message, many=matcher.on_raw_messages
        )
    for topic, group in (
        (topics.calendar_raw, groups.MATCHER),
        (topics.calendar_replay, groups.MATCHER_REPLAY_CALENDAR),
    ):
        runtime.consume(
            topic, group, RawCalendarItem, matcher.on_raw_event, many=matcher.on_raw_events
        )
    runtime.consume(topics.records, groups.MATCHER_RECORDS, RecordEvent, matcher.on_record)
    return runtime
