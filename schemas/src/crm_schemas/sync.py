"""Sync jobs and sync status."""

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from crm_schemas.base import Event, utcnow


class SyncKind(StrEnum):
    """What a sync job pulls."""

    MAIL = "mail"
    CALENDAR = "calendar"


class SyncRequested(Event):
    """Pull what is new in one account. Keyed by account id, so one fetcher owns it."""

    schema_version: Literal[1] = 1
    account_id: str
    workspace_id: str
    kind: SyncKind
    reason: Literal["schedule", "manual", "push", "continuation"] = "schedule"
    requested_at: datetime = Field(default_factory=utcnow)
    resubscribe: bool = Field(
        default=False,
        description="The provider says the account's push subscription was removed, needs"
        " reauthorising or missed notifications: renew it now, else make a new one"
        " (added 2026-12; absent in older requests: false).",
    )


class SyncState(StrEnum):
    """Where an account's sync stands, as its owner sees it."""

    IMPORTING = "importing"
    UP_TO_DATE = "up_to_date"
    FAILING = "failing"


class PushState(Event):
    """Whether changes of an account reach the fetcher by push, and why not."""

    active: bool
    reason: str | None = Field(
        default=None, description="Why push is not active, in the user's words."
    )
    remedy: str | None = Field(default=None, description="What can be done about it.")
    expires_at: datetime | None = Field(
        default=None, description="When the provider's subscription ends unless renewed."
    )


class SyncStatusChanged(Event):
    """An account's sync progressed, finished or failed."""

    schema_version: Literal[1] = 1
    account_id: str
    workspace_id: str
    kind: SyncKind
    state: SyncState
    done: int = 0
    total: int | None = None
    reason: str | None = Field(default=None, description="Why it fails, in the user's words.")
    remedy: str | None = Field(default=None, description="What the user can do about it.")
    at: datetime = Field(default_factory=utcnow)
    push: PushState | None = Field(
        default=None,
        description="Push for this account and kind (added 2026-12; None: not reported, as"
        " in older reports and for IMAP and CalDAV accounts).",
    )
