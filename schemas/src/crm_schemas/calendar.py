"""Meetings, from the fetcher's raw form to the timeline's record."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from crm_schemas.base import Address, Event, utcnow
from crm_schemas.mail import Participant


class Attendee(Event):
    """An attendee of a meeting with their response."""

    email: str
    name: str | None = None
    response: str | None = Field(default=None, description="ACCEPTED, DECLINED, TENTATIVE, ...")


class RawEvent(Event):
    """A calendar event as fetched, before any rule is applied. Never a private one."""

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
    fetched_at: datetime = Field(default_factory=utcnow)


class MatchedEvent(Event):
    """A meeting that may be shared, with its participants linked where known."""

    schema_version: Literal[1] = 1
    event: RawEvent
    participants: tuple[Participant, ...]


class TimelineEvent(Event):
    """A meeting ready for the timelines."""

    schema_version: Literal[1] = 1
    event: RawEvent
    visibility: str
    owner_member_id: str
    participants: tuple[Participant, ...]
