"""The enricher: creates people and companies where allowed, and emits timeline records."""

from crm_runtime.bus import publish
from crm_runtime.service import Runtime, build_runtime, follow_config
from crm_schemas.calendar import MatchedCalendarItem, MatchedEvent, RawEventRemoved, TimelineEvent
from crm_schemas.config import AccountConfigured, WorkspaceConfigured
from crm_schemas.mail import MatchedMessage, Participant, TimelineMessage
from crm_schemas.records import CompanyUpserted, PersonUpserted, RecordEvent
from enricher.adapters.records import Records
from enricher.rules.companies import (
    company_domain,
    company_name_from_domain,
    workspace_personal_domains,
)
from enricher.rules.creation import (
    creates_people_from_message,
    may_become_person,
    role_local_parts,
)
from enricher.rules.names import person_name_from_header
from enricher.settings import EnricherSettings

SERVICE = "enricher"
Record = PersonUpserted | CompanyUpserted


def _record_id(record: Record) -> str:
    return record.person_id if isinstance(record, PersonUpserted) else record.company_id


class Enricher:
    """The enricher's handlers, over its runtime and its records."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._config = runtime.config
        self.records = Records(runtime.db)

    async def _link(
        self,
        account: AccountConfigured,
        workspace: WorkspaceConfigured,
        p: Participant,
        create: bool,
    ) -> tuple[Participant, list[Record]]:
        """Link one participant, creating what the policy allows; return it and its records."""
        ws = workspace.workspace_id
        personal = workspace_personal_domains(
            workspace.personal_domains_add, workspace.personal_domains_remove
        )
        own = frozenset(workspace.domains)
        domain = None if p.internal else company_domain(p.email, own, personal)
        person = await self.records.person_by_email(ws, p.email)
        company = await self.records.company_by_domain(ws, domain) if domain else None
        allowed = create and may_become_person(
            p,
            account.owner_addresses,
            roles=role_local_parts(workspace.role_addresses_add, workspace.role_addresses_remove),
            blocklist=account.mail.blocklist,
        )
        if person is None and allowed:
            if domain is not None and company is None:
                company = await self.records.ensure_company(
                    ws, domain, company_name_from_domain(domain)
                )
            name = person_name_from_header(p.name, p.email)
            person = await self.records.ensure_person(
                ws, p.email, name, company.company_id if company else None
            )
        linked = p.model_copy(
            update={
                "person_id": person.person_id if person else p.person_id,
                "company_id": (person.company_id if person else None)
                or (company.company_id if company else None),
                "company_domain": domain,
            }
        )
        return linked, [r for r in (company, person) if r is not None]

    async def _enrich(
        self,
        account: AccountConfigured,
        workspace: WorkspaceConfigured,
        participants: tuple[Participant, ...],
        create: bool,
    ) -> tuple[Participant, ...]:
        linked: list[Participant] = []
        records: dict[str, Record] = {}
        for participant in participants:
            one, found = await self._link(account, workspace, participant, create)
            linked.append(one)
            records.update((_record_id(r), r) for r in found)
        await self._announce(records)
        return tuple(linked)

    async def _announce(self, records: dict[str, Record]) -> None:
        """Publish the linked records not yet published, then remember that they were.

        Every record a message links to is checked, not only those created just now: a
        crash between creating a record and publishing it is repaired by redelivery.
        """
        pending = await self.records.unannounced(list(records)) if records else []
        for record_id in pending:
            topic = self._runtime.topics.records
            await publish(self._runtime.broker, topic, record_id, records[record_id])
        if pending:
            await self.records.mark_announced(pending)

    async def on_record(self, record: RecordEvent) -> None:
        """Keep people and companies from the records topic (the records API's among them),
        so auto-creation reuses a record created by hand instead of duplicating it."""
        if isinstance(record, PersonUpserted):
            await self.records.apply_person(record)
        elif isinstance(record, CompanyUpserted):
            await self.records.apply_company(record)

    async def on_matched_message(self, matched: MatchedMessage) -> None:
        """Create the people and companies a message allows, and put it on the timelines."""
        account, workspace = await self._config.account_in_workspace(matched.message.account_id)
        create = creates_people_from_message(account.mail.contact_creation, matched.sent_by_owner)
        participants = await self._enrich(account, workspace, matched.participants, create)
        record = TimelineMessage(
            message=matched.message,
            thread_id=matched.thread_id,
            sent_by_owner=matched.sent_by_owner,
            visibility=account.mail.visibility.value,
            owner_member_id=account.owner_member_id,
            participants=participants,
        )
        # Keyed by thread: one timeline consumer owns a thread, in order (docs/adr/0007).
        topic = self._runtime.topics.timeline_messages
        await publish(self._runtime.broker, topic, matched.thread_id, record)

    async def on_matched_event(self, matched: MatchedEvent | RawEventRemoved) -> None:
        """Create the people and companies a meeting allows, and put it on the timelines.

        A removal passes on to the timelines as it is, under the same key.
        """
        if isinstance(matched, RawEventRemoved):
            topic = self._runtime.topics.timeline_events
            await publish(self._runtime.broker, topic, matched.item_id, matched)
            return
        account, workspace = await self._config.account_in_workspace(matched.event.account_id)
        create = account.calendar.contact_creation
        participants = await self._enrich(account, workspace, matched.participants, create)
        record = TimelineEvent(
            event=matched.event,
            visibility=account.calendar.visibility.value,
            owner_member_id=account.owner_member_id,
            participants=participants,
        )
        topic = self._runtime.topics.timeline_events
        await publish(self._runtime.broker, topic, matched.event.item_id, record)


def build(settings: EnricherSettings) -> Runtime:
    """The enricher's runtime with every subscriber wired."""
    runtime = build_runtime(SERVICE, settings)
    enricher = Enricher(runtime)
    follow_config(runtime)
    topics = runtime.topics
    runtime.consume(topics.mail_matched, SERVICE, MatchedMessage, enricher.on_matched_message)
    runtime.consume(
        topics.calendar_matched, SERVICE, MatchedCalendarItem, enricher.on_matched_event
    )
    runtime.consume(topics.records, f"{SERVICE}.records", RecordEvent, enricher.on_record)
    return runtime
