"""A Google Calendar API emulator (events.list with sync tokens), served by the Google
emulator's app under ``/calendar/v3``.

- ``GET /calendar/v3/calendars/{id}/events``: ``singleEvents``, ``showDeleted``,
  ``maxResults`` (up to 2500, default 250), ``pageToken``; the last page carries
  ``nextSyncToken``. With ``syncToken``: every event changed since, deleted ones as
  ``status: cancelled``. A forgotten token answers 410 ``fullSyncRequired``.
- Events are stored already expanded (one resource per occurrence, with
  ``recurringEventId`` and ``originalStartTime``), as ``singleEvents=true`` returns them.
"""

import base64
import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote


def _token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def _untoken(value: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(value.encode()))
    return loaded


@dataclass
class StoredEvent:
    resource: dict[str, Any]
    seq: int
    deleted: bool = False


@dataclass
class GoogleCalendars:
    """Every user's calendars: (user, calendar id) -> event id -> event."""

    calendars: dict[tuple[str, str], dict[str, StoredEvent]] = field(default_factory=dict)
    seq: int = 0
    oldest_token: int = 0
    calls: int = 0
    _ids: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def add(self, user: str, resource: dict[str, Any], calendar: str = "primary") -> str:
        """An event is created or changed; returns its id."""
        with self._lock:
            self.seq += 1
            event_id = str(resource.get("id") or f"evt{next(self._ids):06d}")
            stored = {"kind": "calendar#event", "id": event_id, "status": "confirmed"} | resource
            self.calendars.setdefault((user, calendar), {})[event_id] = StoredEvent(
                stored, self.seq
            )
            return event_id

    def delete(self, user: str, event_id: str, calendar: str = "primary") -> None:
        with self._lock:
            self.seq += 1
            stored = self.calendars[(user, calendar)][event_id]
            stored.deleted, stored.seq = True, self.seq

    def forget_sync_tokens(self) -> None:
        with self._lock:
            self.seq += 1
            self.oldest_token = self.seq

    def events(self, user: str, calendar: str, q: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """events.list."""
        with self._lock:
            self.calls += 1
            calendar = unquote(calendar)
            if calendar == user:
                calendar = "primary"
            size = int(q.get("maxResults", "250"))
            if not 1 <= size <= 2500:
                return 400, {"error": {"code": 400, "message": "Invalid maxResults"}}
            if "pageToken" in q:
                state = _untoken(q["pageToken"])
            elif "syncToken" in q:
                since = int(_untoken(q["syncToken"])["since"])
                if since < self.oldest_token:
                    return 410, {
                        "error": {
                            "code": 410,
                            "message": "Sync token is no longer valid, a full sync is required.",
                            "errors": [{"domain": "calendar", "reason": "fullSyncRequired"}],
                        }
                    }
                state = {"since": since, "upto": self.seq, "skip": 0}
            else:
                state = {"since": None, "upto": self.seq, "skip": 0}
            stored = self.calendars.get((user, calendar), {})
            incremental = state["since"] is not None
            show_deleted = incremental or q.get("showDeleted") == "true"
            chosen = sorted(
                (
                    e
                    for e in stored.values()
                    if e.seq <= state["upto"]
                    and (not incremental or e.seq > state["since"])
                    and (show_deleted or not e.deleted)
                ),
                key=lambda e: e.seq,
            )
            chunk = chosen[state["skip"] : state["skip"] + size]
            items = [
                {"kind": "calendar#event", "id": e.resource["id"], "status": "cancelled"}
                if e.deleted
                else e.resource
                for e in chunk
            ]
            body: dict[str, Any] = {"kind": "calendar#events", "items": items}
            if state["skip"] + size < len(chosen):
                body["nextPageToken"] = _token(state | {"skip": state["skip"] + size})
            else:
                body["nextSyncToken"] = _token({"since": state["upto"]})
            return 200, body
