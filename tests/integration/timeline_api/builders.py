"""Timeline events as the enricher publishes them, for the integration tests."""

from datetime import UTC, datetime, timedelta

from crm_schemas.base import Address
from crm_schemas.calendar import Attendee, RawEvent, TimelineEvent
from crm_schemas.ids import company_id, event_item_id, message_item_id, person_id, thread_id
from crm_schemas.mail import FolderRole, Participant, ParticipantRole, RawMessage, TimelineMessage
from crm_schemas.outcomes import DeadLetter
from crm_schemas.records import CompanyUpserted, PersonUpserted

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ME = "me@us.test"


def at(minutes: int) -> datetime:
    """``minutes`` after T0."""
    return T0 + timedelta(minutes=minutes)


def _participant(email: str, role: ParticipantRole) -> Participant:
    internal = email.endswith("@us.test")
    domain = email.split("@")[1]
    return Participant(
        email=email,
        roles=(role,),
        internal=internal,
        company_domain=None if domain == "gmail.com" else domain,
    )


def mail(
    workspace: str,
    message_id: str,
    *,
    root: str | None = None,
    minutes: int = 0,
    to: tuple[str, ...] = ("ann@client.test",),
    subject: str = "Pricing",
    account: str = "acc-a",
    visibility: str = "full",
) -> TimelineMessage:
    """A message from me to ``to``, in the thread started by ``root`` (itself by default)."""
    raw = RawMessage(
        item_id=message_item_id(workspace, message_id),
        workspace_id=workspace,
        account_id=account,
        provider="imap",
        provider_ref=f"INBOX/1/{message_id}",
        folder="INBOX",
        folder_role=FolderRole.INBOX,
        message_id=message_id,
        subject=subject,
        sent_at=at(minutes),
        from_=(Address(email=ME),),
        to=tuple(Address(email=a) for a in to),
        body_text=f"body of {message_id}",
    )
    return TimelineMessage(
        message=raw,
        thread_id=thread_id(workspace, root or message_id),
        sent_by_owner=True,
        visibility=visibility,
        owner_member_id=f"member-{account}",
        participants=(
            _participant(ME, ParticipantRole.FROM),
            *(_participant(a, ParticipantRole.TO) for a in to),
        ),
    )


def meeting(
    workspace: str,
    uid: str,
    *,
    minutes: int = 0,
    attendees: tuple[str, ...] = (),
    visibility: str = "everything",
) -> TimelineEvent:
    """A 30-minute meeting I organise with ``attendees``."""
    raw = RawEvent(
        item_id=event_item_id(workspace, uid, None),
        workspace_id=workspace,
        account_id="acc-a",
        provider="caldav",
        calendar="work",
        ical_uid=uid,
        title=f"Meeting {uid}",
        location="Room 1",
        starts_at=at(minutes),
        ends_at=at(minutes + 30),
        organizer=Address(email=ME),
        attendees=tuple(Attendee(email=a) for a in attendees),
    )
    return TimelineEvent(
        event=raw,
        visibility=visibility,
        owner_member_id="member-acc-a",
        participants=(
            _participant(ME, ParticipantRole.ORGANIZER),
            *(_participant(a, ParticipantRole.ATTENDEE) for a in attendees),
        ),
    )


def person(workspace: str, name: str, *emails: str) -> PersonUpserted:
    """A person with these addresses, the first one primary."""
    return PersonUpserted(
        person_id=person_id(workspace, emails[0]),
        workspace_id=workspace,
        name=name,
        emails=emails,
        company_id=company_id(workspace, emails[0].split("@")[1]),
    )


def company(workspace: str, domain: str) -> CompanyUpserted:
    """A company with one domain."""
    return CompanyUpserted(
        company_id=company_id(workspace, domain),
        workspace_id=workspace,
        name=domain,
        domains=(domain,),
    )


def lost_in_an_outage(
    event: TimelineMessage, topic: str, partition: int, offset: int
) -> DeadLetter:
    """The dead letter the projection made of a timeline message while Kafka was down."""
    return DeadLetter(
        source_topic=topic,
        partition=partition,
        offset=offset,
        key=event.thread_id,
        handler="Projection.message",
        error_type="KafkaConnectionError",
        error="Unable to bootstrap from [('127.0.0.1', 19092)]",
        attempts=5,
        payload=event.model_dump_json(by_alias=True),
    )
