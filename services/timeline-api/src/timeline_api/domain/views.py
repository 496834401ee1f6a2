"""What a viewer gets to see of a message, a thread and a meeting, after redaction.

A field the viewer may not see is ``None`` (or empty), and ``visibility`` says which level
applied, so a client can tell "hidden" from "there is none".
"""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from crm_schemas.mail import AttachmentInfo, Participant


class View(BaseModel):
    """Plain, immutable data sent to a client."""

    model_config = ConfigDict(frozen=True)


class MessageView(View):
    """One message of a conversation."""

    id: str = Field(description="The message's item id.")
    message_id: str | None = Field(description="RFC 5322 Message-ID; hidden at 'metadata'.")
    sent_at: datetime
    participants: tuple[Participant, ...]
    subject: str | None = None
    body_text: str | None = None
    attachments: tuple[AttachmentInfo, ...] = ()
    visibility: str = Field(description="The level applied: metadata, subject or full.")


class ThreadView(View):
    """A conversation as a timeline row."""

    id: str = Field(description="The thread id.")
    workspace_id: str
    subject: str | None = None
    last_activity: datetime
    first_activity: datetime
    message_count: int
    participants: tuple[Participant, ...]
    visibility: str = Field(description="The level applied to the subject.")


class ThreadDetailView(ThreadView):
    """A whole conversation, its messages oldest first."""

    messages: tuple[MessageView, ...]


class EventView(View):
    """A meeting as a timeline row."""

    id: str = Field(description="The meeting occurrence's item id.")
    workspace_id: str
    starts_at: datetime
    ends_at: datetime
    duration_minutes: int
    all_day: bool
    participants: tuple[Participant, ...]
    title: str | None = None
    description: str | None = None
    location: str | None = None
    conference_url: str | None = None
    status: str | None = None
    visibility: str = Field(description="The level applied: metadata or everything.")
