"""From the events on Kafka to what the timeline stores."""

from collections.abc import Iterable
from datetime import datetime

from crm_schemas.calendar import TimelineEvent
from crm_schemas.ids import normalize_email
from crm_schemas.mail import Participant, TimelineMessage
from crm_schemas.records import PersonUpserted
from timeline_api.domain.model import Source, StoredEvent, StoredMessage


def participant_emails(participants: Iterable[Participant]) -> tuple[str, ...]:
    """Every participant's address, normalised, once each: what timelines link on."""
    return tuple(dict.fromkeys(normalize_email(p.email) for p in participants))


def company_domains(participants: Iterable[Participant]) -> tuple[str, ...]:
    """The company domains of the external participants, once each.

    Internal participants are left out, so the workspace's own company record does not
    collect every conversation of the team.
    """
    domains = (
        p.company_domain.lower() for p in participants if p.company_domain and not p.internal
    )
    return tuple(dict.fromkeys(domains))


def message_record(event: TimelineMessage) -> StoredMessage:
    """The stored form of one delivery of a message, with its mailbox as its one source."""
    raw = event.message
    return StoredMessage(
        item_id=raw.item_id,
        workspace_id=raw.workspace_id,
        thread_id=event.thread_id,
        message_id=raw.message_id,
        subject=raw.subject,
        sent_at=raw.sent_at,
        participants=event.participants,
        participant_emails=participant_emails(event.participants),
        company_domains=company_domains(event.participants),
        body_text=raw.body_text,
        attachments=raw.attachments,
        sources=(
            Source(
                account_id=raw.account_id,
                visibility=event.visibility,
                owner_member_id=event.owner_member_id,
                folder=raw.folder,
                version=raw.fetched_at,
            ),
        ),
        version=raw.fetched_at,
    )


def duration_minutes(starts_at: datetime, ends_at: datetime) -> int:
    """A meeting's length in whole minutes, never negative."""
    return max(0, int((ends_at - starts_at).total_seconds() // 60))


def event_record(event: TimelineEvent) -> StoredEvent:
    """The stored form of one delivery of a meeting, with its calendar as its one source."""
    raw = event.event
    return StoredEvent(
        item_id=raw.item_id,
        workspace_id=raw.workspace_id,
        ical_uid=raw.ical_uid,
        recurrence_id=raw.recurrence_id,
        title=raw.title,
        description=raw.description,
        location=raw.location,
        conference_url=raw.conference_url,
        starts_at=raw.starts_at,
        ends_at=raw.ends_at,
        duration_minutes=duration_minutes(raw.starts_at, raw.ends_at),
        all_day=raw.all_day,
        status=raw.status,
        participants=event.participants,
        participant_emails=participant_emails(event.participants),
        company_domains=company_domains(event.participants),
        sources=(
            Source(
                account_id=raw.account_id,
                visibility=event.visibility,
                owner_member_id=event.owner_member_id,
                folder=raw.calendar,
                version=raw.fetched_at,
            ),
        ),
        version=raw.fetched_at,
    )


def person_addresses(person: PersonUpserted) -> list[str]:
    """A person's addresses as stored: normalised, each once, the primary first."""
    return list(dict.fromkeys(normalize_email(e) for e in person.emails))
