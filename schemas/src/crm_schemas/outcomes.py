"""What happened to an item that did not go all the way: dropped, or dead-lettered."""

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from crm_schemas.base import Event, utcnow


class DropReason(StrEnum):
    """Why an item is not on any timeline. Stable codes: operators and the API use them."""

    INTERNAL = "internal"
    GROUP_MAIL = "group_mail"
    EXCLUDED_FOLDER = "excluded_folder"
    BLOCKED = "blocked"
    PRIVATE_EVENT = "private_event"
    ACCOUNT_DISCONNECTED = "account_disconnected"
    NO_PARTICIPANTS = "no_participants"
    CALENDAR_INVITATION = "calendar_invitation"
    UNREADABLE = "unreadable"  # the item could not be read or represented (the fetcher)


class ItemDropped(Event):
    """An item was deliberately not synced. Carries no content, only what identifies it."""

    schema_version: Literal[1] = 1
    item_id: str
    workspace_id: str
    account_id: str
    kind: Literal["message", "event"]
    natural_id: str = Field(description="Message-ID or iCal UID.")
    reason: DropReason
    rule: str = Field(description="The rule that decided, e.g. 'is_internal'.")
    detail: str = ""
    dropped_at: datetime = Field(default_factory=utcnow)


class DeadLetter(Event):
    """A message a handler could not process, kept with its error for an operator."""

    schema_version: Literal[1] = 1
    source_topic: str
    partition: int
    offset: int
    key: str | None
    handler: str
    error_type: str
    error: str
    attempts: int
    payload: str = Field(description="The original payload, as text (base64 if not UTF-8).")
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    failed_at: datetime = Field(default_factory=utcnow)
