"""Messages, from the fetcher's raw form to the timeline's record."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag

from crm_schemas.base import Address, Event, kind_of, utcnow


class FolderRole(StrEnum):
    """What a folder is for, from its special-use attribute or its well-known name."""

    INBOX = "inbox"
    SENT = "sent"
    DRAFTS = "drafts"
    JUNK = "junk"
    TRASH = "trash"
    ARCHIVE = "archive"
    ALL = "all"
    OTHER = "other"


class AttachmentInfo(Event):
    """An attachment's metadata; its content is never fetched."""

    filename: str | None = None
    content_type: str
    size: int | None = None


class RawMessage(Event):
    """A message as fetched from a mailbox, before any rule is applied.

    ``item_id`` depends only on the workspace and the Message-ID, so the same message
    fetched from two mailboxes or two folders is one item. On mail.raw it is keyed by its
    copy (``ids.copy_key``: item id and account), so a compacted topic keeps every
    mailbox's copy; ``fetched_at`` is the copy's version (docs/adr/0021).
    """

    schema_version: Literal[1] = 1
    item_id: str
    workspace_id: str
    account_id: str
    provider: Literal["imap", "gmail", "graph"]
    provider_ref: str = Field(
        description="Where the provider keeps it, e.g. folder/uidvalidity/uid."
    )
    folder: str
    folder_role: FolderRole
    message_id: str = Field(description="Normalised RFC 5322 Message-ID (no angle brackets).")
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    subject: str | None = None
    sent_at: datetime
    from_: tuple[Address, ...] = Field(default=(), alias="from")
    sender: Address | None = None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Headers the rules read (List-Id, Precedence, ...), by lower-cased name.",
    )
    content_type: str = "text/plain"
    body_text: str | None = Field(default=None, description="Plain text body, bounded.")
    attachments: tuple[AttachmentInfo, ...] = ()
    calendar_method: str | None = Field(
        default=None,
        description="METHOD of a text/calendar part (REQUEST, CANCEL, ...): an invitation.",
    )
    truncated: tuple[str, ...] = Field(
        default=(),
        description="Fields cut to a bound, by name ('to', 'cc', ... past 1,000 addresses,"
        " 'subject' past 2,000 characters): the message holds more than they show."
        " Added in schema version 1 with a default, so earlier payloads validate.",
    )
    fetched_at: datetime = Field(default_factory=utcnow)

    model_config = Event.model_config | {"populate_by_name": True, "serialize_by_alias": True}


class ParticipantRole(StrEnum):
    """Where an address appeared on a message or meeting."""

    FROM = "from"
    TO = "to"
    CC = "cc"
    BCC = "bcc"
    ORGANIZER = "organizer"
    ATTENDEE = "attendee"


class Participant(Event):
    """One participant of a message or meeting, linked to records where known."""

    email: str
    name: str | None = None
    roles: tuple[ParticipantRole, ...]
    internal: bool = Field(description="In the workspace's own domains.")
    person_id: str | None = None
    company_id: str | None = None
    company_domain: str | None = Field(
        default=None, description="Registrable domain of a work address, None for personal ones."
    )
    response: str | None = Field(default=None, description="Attendee response status.")


class MatchedMessage(Event):
    """A message that may be shared, with its participants and direction."""

    schema_version: Literal[1] = 1
    message: RawMessage
    thread_id: str
    sent_by_owner: bool
    participants: tuple[Participant, ...]


class TimelineMessage(Event):
    """A message ready for the timelines: participants linked, records created."""

    schema_version: Literal[1] = 1
    message: RawMessage
    thread_id: str
    sent_by_owner: bool
    visibility: str = Field(description="The source mailbox's visibility setting.")
    owner_member_id: str
    participants: tuple[Participant, ...]


class RawMessageRemoved(Event):
    """One mailbox's copy of a message leaves the timelines: the matcher now drops it
    (``dropped``: blocked, internal, excluded folder, group mail, a disconnected account),
    after a rule change replayed or a new version of the copy.

    Carries no content. It travels on mail.matched under the item id and on
    timeline.messages under the thread id, like the copies it follows. ``removed_at`` is
    the version of the copy it withdraws (that copy's ``fetched_at``): the timeline applies
    it only if no newer version of the copy is there (docs/adr/0021).
    """

    type: Literal["message_removed"] = "message_removed"
    schema_version: Literal[1] = 1
    item_id: str
    workspace_id: str
    account_id: str
    message_id: str
    thread_id: str
    folder: str
    reason: Literal["dropped"]
    removed_at: datetime


class ThreadsMerged(Event):
    """Two threads proved to be one: a later message referenced both (docs/adr/0027).

    The matcher publishes it on mail.matched when its thread index joins them; the
    enricher passes it on to timeline.messages keyed by ``from_thread_id``, in order with
    that thread's messages, and the timeline moves that thread's messages into
    ``into_thread_id``. Thread ids stay deterministic: the survivor is named after the
    smallest thread root of the conversation, whatever order its messages came in.
    """

    type: Literal["threads_merged"] = "threads_merged"
    schema_version: Literal[1] = 1
    workspace_id: str
    into_thread_id: str
    from_thread_id: str
    merged_at: datetime = Field(default_factory=utcnow)


_mail_kind = kind_of("message")
"""A mail payload's kind; one without ``type`` is a message."""


_REMOVED = Annotated[RawMessageRemoved, Tag("message_removed")]
_MERGED = Annotated[ThreadsMerged, Tag("threads_merged")]
MatchedMailItem = Annotated[
    Annotated[MatchedMessage, Tag("message")] | _REMOVED | _MERGED, Discriminator(_mail_kind)
]
"""What travels on mail.matched: a message that may be shared, a copy withdrawn, or two
threads joined."""
TimelineMailItem = Annotated[
    Annotated[TimelineMessage, Tag("message")] | _REMOVED | _MERGED, Discriminator(_mail_kind)
]
"""What travels on timeline.messages: a message ready for the timelines, a copy withdrawn
(keyed by its thread), or two threads joined (keyed by the thread that goes)."""
