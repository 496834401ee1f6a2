"""An account's sync status as its owner reads it, from the fetcher's reports."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from crm_schemas.sync import SyncState, SyncStatusChanged


def kept_status(
    previous: Mapping[str, Any] | None, status: SyncStatusChanged
) -> dict[str, Any] | None:
    """The status to keep for a kind of sync after ``status``: the report with when its
    import began and when it was last up to date (the fetcher reports progress, not those
    two moments). None when ``previous`` is as new or newer (a report redelivered or
    overtaken): nothing changes."""
    previous = previous or {}
    if previous.get("at") is not None and previous["at"] >= status.at:
        return None
    started_at: datetime | None = previous.get("started_at")
    if status.state is SyncState.IMPORTING and previous.get("state") != "importing":
        started_at = status.at
    last_sync_at = previous.get("last_sync_at")
    if status.state is SyncState.UP_TO_DATE:
        last_sync_at = status.at
    return status.model_dump(mode="json") | {
        "at": status.at,
        "started_at": started_at,
        "last_sync_at": last_sync_at,
    }
