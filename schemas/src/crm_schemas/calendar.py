"""Meetings, from the fetcher's raw form to the timeline's record."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag

from crm_schemas.base import Address, Event, kind_of, utcnow
from crm_schemas.mail import Participant


class Attendee(Event):
    """An attendee of a meeting with their response."""

    email: str
    name: str | None = None
    response: str | None = Field(default=None, description="ACCEPTED, DECLINED, TENTATIVE, ...")


class RawEvent(Event):
    """A calendar event as fetched, before any rule is applied. Never a private one."""

    type: Literal["event"] = "event"
    schema_version: Literal[1] = 1
    item_id: str
    workspace_id: str
    account_id: str
    provider: Literal["caldav", "google", "graph"]
    calendar: str
    ical_uid: str
    recurrence_id: str | None = None
    title: str | None = None
    description: str | None = None
    location: str | None = None
    starts_at: datetime
    ends_at: datetime
    all_day: bool = False
    timezone: str | None = Field(default=None, description="The zone the event was written in.")
    status: str | None = Field(default=None, description="CONFIRMED, TENTATIVE or CANCELLED.")
    organizer: Address | None = None
    attendees: tuple[Attendee, ...] = ()
    conference_url: str | None = Field(default=None, description="The video-call link.")
    fetched_at: datetime = Field(
        default_factory=utcnow, description="When fetched: the copy's version (docs/adr/0021)."
    )


class RawEventRemoved(Event):
    """A meeting occurrence left one calendar: deleted there, cancelled, made private, or
    its new version dropped by the matcher (``dropped``: it became internal or blocked).

    Carries no content. It travels under the occurrence's copy key (``ids.copy_key``:
    item id and account) on calendar.raw, then unchanged under the item id on
    calendar.matched and timeline.events, so it stays in order with the versions of the
    meeting it follows, and a compacted calendar.raw keeps it as the copy's last word.
    The timeline removes that calendar as a source; the meeting leaves the timeline once
    no calendar has it any more. ``removed_at`` is its version: the timeline applies it
    only if no newer version of the copy is there (docs/adr/0021).
    """

    type: Literal["event_removed"] = "event_removed"
    schema_version: Literal[1] = 1
    item_id: str
    workspace_id: str
    account_id: str
    ical_uid: str
    recurrence_id: str | None = None
    reason: Literal["deleted", "cancelled", "private", "dropped"]
    removed_at: datetime = Field(default_factory=utcnow)


class MatchedEvent(Event):
    """A meeting that may be shared, with its participants linked where known."""

    type: Literal["event"] = "event"
    schema_version: Literal[1] = 1
    event: RawEvent
    participants: tuple[Participant, ...]


class TimelineEvent(Event):
    """A meeting ready for the timelines."""

    type: Literal["event"] = "event"
    schema_version: Literal[1] = 1
    event: RawEvent
    visibility: str
    owner_member_id: str
    participants: tuple[Participant, ...]


_calendar_kind = kind_of("event")
"""A calendar payload's kind; one without ``type`` is a meeting."""


_REMOVED = Annotated[RawEventRemoved, Tag("event_removed")]
RawCalendarItem = Annotated[
    Annotated[RawEvent, Tag("event")] | _REMOVED, Discriminator(_calendar_kind)
]
"""What travels on calendar.raw: a meeting occurrence, or its removal from a calendar."""
MatchedCalendarItem = Annotated[
    Annotated[MatchedEvent, Tag("event")] | _REMOVED, Discriminator(_calendar_kind)
]
"""What travels on calendar.matched."""
TimelineCalendarItem = Annotated[
    Annotated[TimelineEvent, Tag("event")] | _REMOVED, Discriminator(_calendar_kind)
]
"""What travels on timeline.events."""
