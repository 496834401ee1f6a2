"""Small builders of timeline data for the unit tests."""

from datetime import UTC, datetime, timedelta

from crm_schemas.mail import Participant, ParticipantRole
from timeline_api.domain.model import Source, StoredEvent, StoredMessage

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def participant(email: str, *roles: ParticipantRole, **links: str | bool | None) -> Participant:
    """A participant, external unless told otherwise."""
    fields = {"email": email, "roles": roles or (ParticipantRole.TO,), "internal": False}
    return Participant.model_validate(fields | links)


def source(visibility: str, owner: str = "member-a", account: str = "acc-a") -> Source:
    """One mailbox or calendar an item was seen in."""
    return Source(account_id=account, visibility=visibility, owner_member_id=owner)


def message(
    item_id: str,
    minutes: int = 0,
    subject: str | None = "Pricing",
    participants: tuple[Participant, ...] = (),
    sources: tuple[Source, ...] = (),
) -> StoredMessage:
    """A stored message sent ``minutes`` after T0."""
    return StoredMessage(
        item_id=item_id,
        workspace_id="ws",
        thread_id="thread-1",
        message_id=f"{item_id}@example.test",
        subject=subject,
        sent_at=T0 + timedelta(minutes=minutes),
        participants=participants or (participant("ann@client.test", ParticipantRole.FROM),),
        body_text="Hello, here is the price.",
        sources=sources or (source("full"),),
    )


def event(visibility: str = "everything", owner: str = "member-a") -> StoredEvent:
    """A stored one-hour meeting."""
    return StoredEvent(
        item_id="event-1",
        workspace_id="ws",
        ical_uid="uid-1",
        title="Quarterly review",
        description="Agenda: numbers",
        location="Room 4",
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
        duration_minutes=60,
        participants=(participant("ann@client.test", ParticipantRole.ATTENDEE),),
        sources=(source(visibility, owner),),
    )
