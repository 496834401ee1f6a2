"""A Google Calendar API emulator (events.list with sync tokens), served by the Google
emulator's app under ``/calendar/v3``.

- ``GET /calendar/v3/calendars/{id}/events``: ``singleEvents``, ``showDeleted``,
  ``maxResults`` (up to 2500, default 250), ``pageToken``; the last page carries
  ``nextSyncToken``. With ``syncToken``: every event changed since, deleted ones as
  ``status: cancelled``. A forgotten token answers 410 ``fullSyncRequired``.
- Events are stored already expanded (one resource per occurrence, with
  ``recurringEventId`` and ``originalStartTime``), as ``singleEvents=true`` returns them.
- Push (developers.google.com/calendar/api/guides/push): ``POST .../events/watch`` opens
  a channel (``id`` unique, at most 64 of [A-Za-z0-9-_+/=]; ``type`` web_hook; an https
  ``address``; an optional ``token`` of at most 256 characters; ``expiration`` in ms,
  at most ``max_channel_s`` on) and answers it with its ``resourceId`` (one per
  calendar); the channel's first message says ``sync``, each change after it ``exists``,
  in ``X-Goog-*`` headers, until it expires or ``POST /calendar/v3/channels/stop`` (id and
  resourceId) ends it.
"""

import base64
import hashlib
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote

from .notify import Notifier

CHANNEL_ID = re.compile(r"[A-Za-z0-9\-_+/=]{1,64}")


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
class Channel:
    """A notification channel on one user's calendar."""

    id: str
    user: str
    calendar: str
    address: str
    token: str | None
    resource_id: str
    expires_at: float  # epoch seconds
    messages: int = 0


def _error(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"reason": reason, "message": message}],
        }
    }


@dataclass
class GoogleCalendars:
    """Every user's calendars: (user, calendar id) -> event id -> event."""

    calendars: dict[tuple[str, str], dict[str, StoredEvent]] = field(default_factory=dict)
    seq: int = 0
    oldest_token: int = 0
    calls: int = 0
    notifier: Notifier = field(default_factory=Notifier)
    allow_http: bool = False
    max_channel_s: float = 7 * 86400
    channels: dict[str, Channel] = field(default_factory=dict)
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
            self._changed(user, calendar)
            return event_id

    def delete(self, user: str, event_id: str, calendar: str = "primary") -> None:
        with self._lock:
            self.seq += 1
            stored = self.calendars[(user, calendar)][event_id]
            stored.deleted, stored.seq = True, self.seq
            self._changed(user, calendar)

    # --- push ---------------------------------------------------------------------------
    @staticmethod
    def resource_id(user: str, calendar: str) -> str:
        """The opaque id of a calendar's events collection: the same for every channel."""
        return hashlib.sha1(f"{user}/{calendar}".encode()).hexdigest()[:27]  # noqa: S324

    def watch(self, user: str, calendar: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """events.watch: open a channel, and send it its ``sync`` message."""
        calendar = "primary" if unquote(calendar) in (user, "primary") else unquote(calendar)
        channel_id, address = str(body.get("id", "")), str(body.get("address", ""))
        token = body.get("token")
        if not CHANNEL_ID.fullmatch(channel_id):
            return 400, _error(400, "invalid", "Invalid channel id.")
        if body.get("type") not in ("web_hook", "webhook"):
            return 400, _error(400, "invalid", "Invalid channel type.")
        if not address.startswith("https://") and not (
            self.allow_http and address.startswith("http://")
        ):
            return 400, _error(
                400, "push.webhookUrlNotHttps", "WebHook callback must be HTTPS: " + address
            )
        if token is not None and len(str(token)) > 256:
            return 400, _error(400, "invalid", "Channel token too long.")
        now = time.time()
        asked = float(body.get("expiration") or 0) / 1000 or now + self.max_channel_s
        expires = min(asked, now + self.max_channel_s)
        with self._lock:
            live = self.channels.get(channel_id)
            if live is not None and live.expires_at > now:
                return 400, _error(400, "channelIdNotUnique", f"Channel id {channel_id} not unique")
            channel = Channel(
                channel_id,
                user,
                calendar,
                address,
                token,
                self.resource_id(user, calendar),
                expires,
            )
            self.channels[channel_id] = channel
            self._send(channel, "sync")
        answer = {
            "kind": "api#channel",
            "id": channel.id,
            "resourceId": channel.resource_id,
            "resourceUri": f"https://www.googleapis.com/calendar/v3/calendars/{calendar}/events",
            "expiration": str(int(expires * 1000)),
        }
        if token is not None:
            answer["token"] = token
        return 200, answer

    def stop(self, user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """channels.stop: the id and resourceId of a channel of this user's."""
        with self._lock:
            channel = self.channels.get(str(body.get("id", "")))
            if (
                channel is None
                or channel.user != user
                or channel.resource_id != body.get("resourceId")
            ):
                return 404, _error(404, "notFound", "Channel not found.")
            del self.channels[channel.id]
        return 204, {}

    def live_channels(self, user: str) -> list[Channel]:
        """The user's channels that have not expired."""
        now = time.time()
        with self._lock:
            return [c for c in self.channels.values() if c.user == user and c.expires_at > now]

    def _changed(self, user: str, calendar: str) -> None:
        for channel in self.live_channels(user):
            if channel.calendar == calendar:
                self._send(channel, "exists")

    def _send(self, channel: Channel, state: str) -> None:
        channel.messages += 1
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": formatdate(channel.expires_at, usegmt=True),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-URI": f"https://www.googleapis.com/calendar/v3/calendars/{channel.calendar}/events",
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(channel.messages),
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = str(channel.token)
        self.notifier.post(channel.address, b"", headers)

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
