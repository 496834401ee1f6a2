"""An account's sync status per kind, as its owner and the workspace read it."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from crm_schemas.config import AccountConfigured
from crm_schemas.sync import SyncKind
from timeline_api.service.accounts import synced_kinds


class PushView(BaseModel):
    """Whether the provider notifies this account's changes at once, and why not."""

    active: bool
    reason: str | None = None
    remedy: str | None = None
    expires_at: datetime | None = Field(
        default=None, description="When the provider's subscription ends unless renewed."
    )


class SyncStatusView(BaseModel):
    """Where one kind of sync of an account stands."""

    kind: SyncKind
    state: str = Field(
        description="pending (no sync has reported yet), importing, up_to_date or failing."
    )
    done: int = 0
    total: int | None = None
    started_at: datetime | None = None
    last_sync_at: datetime | None = None
    reason: str | None = None
    remedy: str | None = None
    at: datetime | None = None
    push: PushView | None = Field(
        default=None,
        description="Provider push (Google, Microsoft) as the last sync found it; null when"
        " not reported (IMAP and CalDAV accounts: IMAP IDLE is their push).",
    )


def status_views(
    account: AccountConfigured, reported: Mapping[SyncKind, Mapping[str, Any]]
) -> list[SyncStatusView]:
    """Each kind's sync status as its owner reads it: ``pending`` until a sync reports, so
    nothing looks synced when nothing was imported."""
    views = []
    for kind in synced_kinds(account):
        doc = reported.get(kind)
        if doc is None:
            views.append(SyncStatusView(kind=kind, state="pending"))
            continue
        views.append(
            SyncStatusView(
                kind=kind,
                state=str(doc["state"]),
                done=int(doc.get("done") or 0),
                total=doc.get("total"),
                started_at=doc.get("started_at"),
                last_sync_at=doc.get("last_sync_at"),
                reason=doc.get("reason"),
                remedy=doc.get("remedy"),
                at=doc.get("at"),
                push=PushView.model_validate(doc["push"]) if doc.get("push") else None,
            )
        )
    return views
