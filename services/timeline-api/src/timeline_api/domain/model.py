"""The timeline's read model: what is stored for a message, a thread and a meeting."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from crm_schemas.mail import AttachmentInfo, Participant


class Record(BaseModel):
    """Plain, immutable data."""

    model_config = ConfigDict(frozen=True)


class Source(Record):
    """One connected account an item was seen in, with that account's sharing setting."""

    account_id: str
    visibility: str
    owner_member_id: str
    folder: str | None = None
    version: datetime | None = Field(
        default=None,
        exclude=True,
        description="The version of the account's copy (docs/adr/0021); stored beside the"
        " sources (the item's ``versions``), never in a thread's row.",
    )


class StoredMessage(Record):
    """A message, once per workspace, with every mailbox it was seen in as a source."""

    item_id: str
    workspace_id: str
    thread_id: str
    message_id: str
    subject: str | None = None
    sent_at: datetime
    participants: tuple[Participant, ...] = ()
    participant_emails: tuple[str, ...] = ()
    company_domains: tuple[str, ...] = ()
    body_text: str | None = None
    attachments: tuple[AttachmentInfo, ...] = ()
    sources: tuple[Source, ...] = ()
    version: datetime | None = Field(
        default=None, description="The version of the copy this content came from."
    )


class ThreadSummary(Record):
    """A conversation as its timeline row shows it, derived from its stored messages."""

    thread_id: str
    workspace_id: str
    subject: str | None = None
    subject_sources: tuple[Source, ...] = ()
    first_activity: datetime
    last_activity: datetime
    message_count: int
    participants: tuple[Participant, ...] = ()
    participant_emails: tuple[str, ...] = ()
    company_domains: tuple[str, ...] = ()


class StoredEvent(Record):
    """A meeting occurrence, once per workspace, with every calendar it is on as a source."""

    item_id: str
    workspace_id: str
    ical_uid: str
    recurrence_id: str | None = None
    title: str | None = None
    description: str | None = None
    location: str | None = None
    conference_url: str | None = None
    starts_at: datetime
    ends_at: datetime
    duration_minutes: int
    all_day: bool = False
    status: str | None = None
    participants: tuple[Participant, ...] = ()
    participant_emails: tuple[str, ...] = ()
    company_domains: tuple[str, ...] = ()
    sources: tuple[Source, ...] = ()
    version: datetime | None = Field(
        default=None, description="The version of the copy this content came from."
    )
