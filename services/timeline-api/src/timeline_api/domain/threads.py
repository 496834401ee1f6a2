"""A conversation's timeline row, summarised from the messages stored for it."""

from collections.abc import Sequence

from crm_schemas.ids import normalize_email
from crm_schemas.mail import Participant
from timeline_api.domain.model import StoredMessage, ThreadSummary
from timeline_api.domain.records import company_domains, participant_emails


class EmptyThreadError(ValueError):
    """A thread is summarised from its messages; it has none."""


def summarise_thread(thread_id: str, messages: Sequence[StoredMessage]) -> ThreadSummary:
    """The thread as its timeline row shows it.

    Computed from all of the thread's messages every time, never incremented, so a
    redelivered message cannot be counted twice. The subject is the first message's (the
    conversation's own), else the newest one that has a subject.
    """
    if not messages:
        raise EmptyThreadError(f"thread {thread_id} has no messages")
    ordered = sorted(messages, key=lambda m: (m.sent_at, m.item_id))
    titled = next((m for m in ordered if m.subject), None)
    participants = merge_participants(ordered)
    return ThreadSummary(
        thread_id=thread_id,
        workspace_id=ordered[0].workspace_id,
        subject=titled.subject if titled else None,
        subject_sources=titled.sources if titled else (),
        first_activity=ordered[0].sent_at,
        last_activity=ordered[-1].sent_at,
        message_count=len({m.item_id for m in ordered}),
        participants=participants,
        participant_emails=participant_emails(participants),
        company_domains=company_domains(participants),
    )


def merge_participants(messages: Sequence[StoredMessage]) -> tuple[Participant, ...]:
    """Participants of all messages, once per address, in order of first appearance.

    Roles are the union of every role the address had; the record links (person,
    company) and the name are the latest known, since linking improves over time.
    """
    merged: dict[str, Participant] = {}
    for message in messages:
        for p in message.participants:
            key = normalize_email(p.email)
            seen = merged.get(key)
            merged[key] = p if seen is None else _merge(seen, p)
    return tuple(merged.values())


def _merge(old: Participant, new: Participant) -> Participant:
    roles = tuple(dict.fromkeys((*old.roles, *new.roles)))
    return old.model_copy(
        update={
            "roles": roles,
            "name": new.name or old.name,
            "person_id": new.person_id or old.person_id,
            "company_id": new.company_id or old.company_id,
            "company_domain": new.company_domain or old.company_domain,
        }
    )
