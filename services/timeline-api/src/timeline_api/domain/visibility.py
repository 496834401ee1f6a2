"""What a workspace member may see of another member's messages and meetings.

The owner of a mailbox or calendar always sees everything. Anyone else sees what the
most generous of the item's sources shares: the same message in a ``full`` mailbox and in
a ``metadata`` one is shared in full by the first. An unknown setting shares the least.
"""

from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar

from crm_schemas.config import CalendarVisibility, MailVisibility
from timeline_api.domain.model import Source, StoredEvent, StoredMessage, ThreadSummary
from timeline_api.domain.views import EventView, MessageView, ThreadDetailView, ThreadView

L = TypeVar("L", bound=StrEnum)

_MAIL_FIELDS: dict[MailVisibility, frozenset[str]] = {
    MailVisibility.METADATA: frozenset({"participants", "sent_at"}),
    MailVisibility.SUBJECT: frozenset({"participants", "sent_at", "subject", "message_id"}),
    MailVisibility.FULL: frozenset(
        {"participants", "sent_at", "subject", "message_id", "body_text", "attachments"}
    ),
}
_CALENDAR_FIELDS: dict[CalendarVisibility, frozenset[str]] = {
    CalendarVisibility.METADATA: frozenset({"starts_at", "ends_at", "participants"}),
    CalendarVisibility.EVERYTHING: frozenset(
        {
            "starts_at",
            "ends_at",
            "participants",
            "title",
            "description",
            "location",
            "conference_url",
        }
    ),
}
_MAIL_ORDER = (MailVisibility.METADATA, MailVisibility.SUBJECT, MailVisibility.FULL)
_CALENDAR_ORDER = (CalendarVisibility.METADATA, CalendarVisibility.EVERYTHING)


def visible_fields(visibility: MailVisibility | CalendarVisibility) -> frozenset[str]:
    """The content fields a non-owner sees at a mailbox or calendar visibility level."""
    if isinstance(visibility, MailVisibility):
        return _MAIL_FIELDS[visibility]
    return _CALENDAR_FIELDS[visibility]


def mail_visibility(sources: Iterable[Source], viewer_member_id: str | None) -> MailVisibility:
    """The level a viewer sees a message at: everything for an owner, else the most shared."""
    levels = [MailVisibility.METADATA]
    for source in sources:
        if viewer_member_id is not None and source.owner_member_id == viewer_member_id:
            return MailVisibility.FULL
        levels.append(_parse(MailVisibility, source.visibility, MailVisibility.METADATA))
    return max(levels, key=_MAIL_ORDER.index)


def calendar_visibility(
    sources: Iterable[Source], viewer_member_id: str | None
) -> CalendarVisibility:
    """The level a viewer sees a meeting at: everything for an owner, else the most shared."""
    levels = [CalendarVisibility.METADATA]
    for source in sources:
        if viewer_member_id is not None and source.owner_member_id == viewer_member_id:
            return CalendarVisibility.EVERYTHING
        levels.append(_parse(CalendarVisibility, source.visibility, CalendarVisibility.METADATA))
    return max(levels, key=_CALENDAR_ORDER.index)


def _parse(kind: type[L], value: str, least: L) -> L:
    try:
        return kind(value)
    except ValueError:
        return least


def redact_message(message: StoredMessage, viewer_member_id: str | None) -> MessageView:
    """The message as the viewer may see it."""
    level = mail_visibility(message.sources, viewer_member_id)
    shown = visible_fields(level)
    return MessageView(
        id=message.item_id,
        message_id=message.message_id if "message_id" in shown else None,
        sent_at=message.sent_at,
        participants=message.participants,
        subject=message.subject if "subject" in shown else None,
        body_text=message.body_text if "body_text" in shown else None,
        attachments=message.attachments if "attachments" in shown else (),
        visibility=level.value,
    )


def redact_thread(thread: ThreadSummary, viewer_member_id: str | None) -> ThreadView:
    """The thread row as the viewer may see it: its subject as its subject's message allows."""
    level = mail_visibility(thread.subject_sources, viewer_member_id)
    return ThreadView(
        id=thread.thread_id,
        workspace_id=thread.workspace_id,
        subject=thread.subject if "subject" in visible_fields(level) else None,
        last_activity=thread.last_activity,
        first_activity=thread.first_activity,
        message_count=thread.message_count,
        participants=thread.participants,
        visibility=level.value,
    )


def redact_thread_detail(
    thread: ThreadSummary, messages: Iterable[StoredMessage], viewer_member_id: str | None
) -> ThreadDetailView:
    """The whole conversation as the viewer may see it, oldest message first."""
    ordered = sorted(messages, key=lambda m: (m.sent_at, m.item_id))
    row = redact_thread(thread, viewer_member_id)
    return ThreadDetailView(
        **row.model_dump(),
        messages=tuple(redact_message(m, viewer_member_id) for m in ordered),
    )


def redact_event(event: StoredEvent, viewer_member_id: str | None) -> EventView:
    """The meeting as the viewer may see it."""
    level = calendar_visibility(event.sources, viewer_member_id)
    shown = visible_fields(level)
    return EventView(
        id=event.item_id,
        workspace_id=event.workspace_id,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        duration_minutes=event.duration_minutes,
        all_day=event.all_day,
        participants=event.participants,
        title=event.title if "title" in shown else None,
        description=event.description if "description" in shown else None,
        location=event.location if "location" in shown else None,
        conference_url=event.conference_url if "conference_url" in shown else None,
        status=event.status,
        visibility=level.value,
    )
