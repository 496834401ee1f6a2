"""A Gmail API emulator: the parts the fetcher uses, with Gmail's documented behaviour.

- ``POST /token``: Google's token endpoint (refresh grant; ``invalid_grant`` once revoked).
- ``users.getProfile``, ``users.labels.list``, ``users.messages.list`` (newest first,
  ``labelIds``, ``q=rfc822msgid:<id>`` (the search by Message-ID; other ``q`` terms are
  refused), ``includeSpamTrash``, ``maxResults`` up to 500, ``pageToken``), ``users.messages.get``
  (``format=raw|metadata|minimal``), ``users.history.list`` (``startHistoryId``; 404 once
  the id is older than the history kept), and ``POST /batch/gmail/v1`` (multipart/mixed,
  at most 100 parts, each part costs its own quota).
- Quota: every call spends its units (get 5, list 5, history 2, profile 1, labels 1) in a
  per-user sliding window; past the limit it answers 429 ``rateLimitExceeded`` (or 403
  ``userRateLimitExceeded``) with Retry-After. ``storm(n)`` makes the next n calls 429.
- An expired or unknown access token gets 401 UNAUTHENTICATED.
- Push (developers.google.com/gmail/api/guides/push): ``users.watch`` (``topicName`` of
  an existing Pub/Sub topic, optional ``labelIds`` with ``labelFilterBehavior``
  include/exclude; 100 units) answers ``historyId`` and ``expiration`` (7 days on), and
  ``users.stop`` (50 units) ends it. While a watch lasts, a change of the mailbox
  publishes ``{"emailAddress", "historyId"}`` to the topic (``pubsub.PubSub``: a push
  with a signed OIDC token), at most one a second per user: Gmail drops the rest.
  ``GET /oauth2/v3/certs`` publishes the signing keys, as Google does.
"""

import base64
import email
import email.policy
import itertools
import json
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .gcal import GoogleCalendars
from .notify import Notifier
from .oauth import TokenAuthority
from .pubsub import PubSub
from .server import Reply

UNITS = {"get": 5, "list": 5, "history": 2, "profile": 1, "labels": 1, "watch": 100, "stop": 50}
WATCH_S = 7 * 86400
SYSTEM_LABELS = (
    "INBOX",
    "SENT",
    "DRAFT",
    "SPAM",
    "TRASH",
    "UNREAD",
    "IMPORTANT",
    "STARRED",
    "CATEGORY_PERSONAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_SOCIAL",
    "CATEGORY_FORUMS",
    "CATEGORY_UPDATES",
)


@dataclass
class StoredMessage:
    id: str
    thread_id: str
    raw: bytes
    label_ids: list[str]
    internal_date_ms: int
    history_id: int


@dataclass
class Mailbox:
    """One user's mail, history and quota."""

    address: str
    messages: dict[str, StoredMessage] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    history_id: int = 1000
    oldest_history: int = 1000  # startHistoryId below this answers 404
    labels: dict[str, str] = field(default_factory=dict)  # user labels, id -> name
    spent: deque[tuple[float, int]] = field(default_factory=deque)
    storm: int = 0
    gets: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    units_log: list[tuple[float, int]] = field(default_factory=list)
    watch: "Watch | None" = None
    last_notified: float = 0.0
    notifications_dropped: int = 0


@dataclass
class Watch:
    """A mailbox's watch on a topic, until ``expires_at`` (epoch seconds)."""

    topic: str
    label_ids: tuple[str, ...]
    behavior: str
    expires_at: float

    def covers(self, labels: list[str], now: float) -> bool:
        if now >= self.expires_at:
            return False
        if not self.label_ids:
            return True
        hit = bool(set(self.label_ids) & set(labels))
        return hit if self.behavior == "include" else not hit


def _error(code: int, message: str, reason: str, status: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "status": status,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    }


def _message_id(raw: bytes) -> str:
    """A stored message's Message-ID, without angle brackets."""
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    return str(parsed.get("Message-ID", "")).strip().strip("<>")


class GmailEmulator:
    """The emulator's state and its ASGI app (``self``)."""

    def __init__(
        self,
        authority: TokenAuthority,
        quota_units: int = 15000,
        window_s: float = 60.0,
        throttle_status: int = 429,
        retry_after_s: float = 1.0,
        notifier: Notifier | None = None,
        notify_rate_s: float = 1.0,
        allow_http: bool = False,
    ) -> None:
        self.authority = authority
        self.quota_units = quota_units
        self.window_s = window_s
        self.throttle_status = throttle_status
        self.retry_after_s = retry_after_s
        self.mailboxes: dict[str, Mailbox] = {}
        self._ids = itertools.count(0x18C0000000)
        self._lock = threading.RLock()
        self.throttled = 0
        self.expire_tokens_after_gets: int | None = None
        self.notifier = notifier or Notifier()
        self.pubsub = PubSub(self.notifier)
        self.notify_rate_s = notify_rate_s
        # Google Calendar, behind the same token endpoint, notifying through the same sender
        self.calendar = GoogleCalendars(notifier=self.notifier, allow_http=allow_http)

    # --- set-up, as a test drives it -------------------------------------------------
    def mailbox(self, address: str) -> Mailbox:
        with self._lock:
            return self.mailboxes.setdefault(address, Mailbox(address))

    def add_label(self, address: str, name: str) -> str:
        box = self.mailbox(address)
        label_id = f"Label_{len(box.labels) + 1}"
        box.labels[label_id] = name
        return label_id

    def deliver(
        self,
        address: str,
        raw: bytes,
        labels: tuple[str, ...] = ("INBOX", "UNREAD"),
        internal_date_ms: int | None = None,
    ) -> str:
        """A message arrives (or is sent): it gets an id, a historyId and a history record."""
        with self._lock:
            box = self.mailbox(address)
            box.history_id += 1
            message_id = f"{next(self._ids):x}"
            stored = StoredMessage(
                id=message_id,
                thread_id=message_id,
                raw=raw.replace(b"\n", b"\r\n"),
                label_ids=list(labels),
                internal_date_ms=internal_date_ms or int(time.time() * 1000) + box.history_id,
                history_id=box.history_id,
            )
            box.messages[message_id] = stored
            box.history.append(
                {
                    "id": str(box.history_id),
                    "messages": [self._minimal(stored)],
                    "messagesAdded": [{"message": self._minimal(stored)}],
                }
            )
            self._notify(box, stored.label_ids)
            return message_id

    def relabel(self, address: str, message_id: str, label: str) -> None:
        """A label is added to a message (say, the owner files it): a labelAdded record."""
        with self._lock:
            box = self.mailbox(address)
            box.history_id += 1
            stored = box.messages[message_id]
            stored.label_ids.append(label)
            box.history.append(
                {
                    "id": str(box.history_id),
                    "messages": [self._minimal(stored)],
                    "labelsAdded": [{"message": self._minimal(stored), "labelIds": [label]}],
                }
            )
            self._notify(box, stored.label_ids)

    def expire_history(self, address: str) -> None:
        """History older than now is no longer kept (about a week at Gmail)."""
        with self._lock:
            box = self.mailbox(address)
            box.history_id += 1
            box.oldest_history = box.history_id
            box.history.clear()

    def expire_watch(self, address: str) -> None:
        """The mailbox's watch ran out (seven days passed without a renewal)."""
        with self._lock:
            box = self.mailbox(address)
            if box.watch is not None:
                box.watch.expires_at = 0.0

    def _notify(self, box: Mailbox, labels: list[str]) -> None:
        """Publish the change to the watch's topic, at most one a second per user."""
        now = time.time()
        if box.watch is None or not box.watch.covers(labels, now):
            return
        if now - box.last_notified < self.notify_rate_s:
            box.notifications_dropped += 1
            return
        box.last_notified = now
        data = {"emailAddress": box.address, "historyId": box.history_id}
        self.pubsub.publish(box.watch.topic, data)

    def _watch(self, box: Mailbox, body: dict[str, Any]) -> Reply:
        topic = str(body.get("topicName", ""))
        if not re.fullmatch(r"projects/[^/]+/topics/[^/]+", topic):
            message = (
                f"Invalid topicName does not match projects/SOME_PROJECT/topics/SOME_TOPIC: {topic}"
            )
            return 400, {}, _error(400, message, "invalidArgument", "INVALID_ARGUMENT")
        if topic not in self.pubsub.topics:
            return (
                404,
                {},
                _error(404, f"Resource not found (resource={topic}).", "notFound", "NOT_FOUND"),
            )
        behavior = str(
            body.get("labelFilterBehavior") or body.get("labelFilterAction") or "include"
        )
        expires = time.time() + WATCH_S
        box.watch = Watch(topic, tuple(body.get("labelIds") or ()), behavior.lower(), expires)
        return 200, {}, {"historyId": str(box.history_id), "expiration": str(int(expires * 1000))}

    def storm(self, address: str, calls: int) -> None:
        """The next ``calls`` calls (batch parts included) are answered 429."""
        self.mailbox(address).storm = calls

    # --- quota ---------------------------------------------------------------------
    def _spend(self, box: Mailbox, units: int, now: float | None = None) -> bool:
        """Charge ``units`` at ``now``: a batch's parts are all charged at its arrival."""
        now = time.monotonic() if now is None else now
        while box.spent and box.spent[0][0] + self.window_s <= now:
            box.spent.popleft()
        if box.storm > 0:
            box.storm -= 1
            return False
        if sum(u for _, u in box.spent) + units > self.quota_units:
            return False
        box.spent.append((now, units))
        box.units_log.append((now, units))
        return True

    def _throttled(self) -> Reply:
        self.throttled += 1
        if self.throttle_status == 403:
            body = _error(
                403, "User Rate Limit Exceeded", "userRateLimitExceeded", "PERMISSION_DENIED"
            )
        else:
            body = _error(
                429,
                "User-rate limit exceeded.  Retry after a while",
                "rateLimitExceeded",
                "RESOURCE_EXHAUSTED",
            )
        return self.throttle_status, {"Retry-After": f"{self.retry_after_s:g}"}, body

    # --- the API ---------------------------------------------------------------------
    @staticmethod
    def _minimal(message: StoredMessage) -> dict[str, Any]:
        return {
            "id": message.id,
            "threadId": message.thread_id,
            "labelIds": list(message.label_ids),
        }

    def _resource(self, message: StoredMessage, fmt: str) -> dict[str, Any]:
        resource = self._minimal(message) | {
            "historyId": str(message.history_id),
            "internalDate": str(message.internal_date_ms),
            "sizeEstimate": len(message.raw),
            "snippet": "",
        }
        if fmt == "raw":
            resource["raw"] = base64.urlsafe_b64encode(message.raw).decode()
        elif fmt in ("metadata", "full"):
            parsed = email.message_from_bytes(message.raw, policy=email.policy.compat32)
            headers = [{"name": k, "value": str(v)} for k, v in parsed.items()]
            resource["payload"] = {"mimeType": parsed.get_content_type(), "headers": headers}
        return resource

    def call(
        self,
        method: str,
        target: str,
        authorization: str | None,
        arrived: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> Reply:
        """One API call (a top-level request or a batch part)."""
        user = self.authority.user_of(authorization)
        if user is None:
            return (
                401,
                {"WWW-Authenticate": "Bearer"},
                _error(
                    401,
                    "Request had invalid authentication credentials.",
                    "authError",
                    "UNAUTHENTICATED",
                ),
            )
        parts = urlsplit(target)
        query = {k: v for k, v in parse_qs(parts.query).items()}
        match = re.fullmatch(r"/gmail/v1/users/(me|[^/]+)/(.+)", parts.path)
        if match is None or method not in ("GET", "POST"):
            return 404, {}, _error(404, "Not Found", "notFound", "NOT_FOUND")
        with self._lock:
            box = self.mailbox(user)
            route = match.group(2)
            if method == "POST" and route in ("watch", "stop"):
                if not self._spend(box, UNITS[route], arrived):
                    return self._throttled()
                box.calls[route] += 1
                if route == "stop":
                    box.watch = None
                    return 204, {}, {}
                return self._watch(box, body or {})
            if method != "GET":
                return 404, {}, _error(404, "Not Found", "notFound", "NOT_FOUND")
            kind = (
                "profile"
                if route == "profile"
                else "labels"
                if route == "labels"
                else "list"
                if route == "messages"
                else "history"
                if route == "history"
                else "get"
                if route.startswith("messages/")
                else ""
            )
            if not kind:
                return 404, {}, _error(404, "Not Found", "notFound", "NOT_FOUND")
            if not self._spend(box, UNITS[kind], arrived):
                return self._throttled()
            box.calls[kind] += 1
            handler: Callable[[Mailbox, str, dict[str, list[str]]], Reply]
            handler = getattr(self, f"_{kind}")
            return handler(box, route, query)

    def _profile(self, box: Mailbox, route: str, q: dict[str, list[str]]) -> Reply:
        return (
            200,
            {},
            {
                "emailAddress": box.address,
                "messagesTotal": len(box.messages),
                "threadsTotal": len(box.messages),
                "historyId": str(box.history_id),
            },
        )

    def _labels(self, box: Mailbox, route: str, q: dict[str, list[str]]) -> Reply:
        labels = [{"id": i, "name": i, "type": "system"} for i in SYSTEM_LABELS]
        labels += [{"id": i, "name": n, "type": "user"} for i, n in box.labels.items()]
        return 200, {}, {"labels": labels}

    @staticmethod
    def _page(q: dict[str, list[str]], default: int) -> tuple[int, int] | None:
        size = int(q.get("maxResults", [default])[0])
        if not 1 <= size <= 500:
            return None
        token = q.get("pageToken", [""])[0]
        start = int(base64.urlsafe_b64decode(token).decode()) if token else 0
        return start, size

    def _list(self, box: Mailbox, route: str, q: dict[str, list[str]]) -> Reply:
        page = self._page(q, 100)
        if page is None:
            return 400, {}, _error(400, "Invalid maxResults", "invalidArgument", "INVALID_ARGUMENT")
        start, size = page
        wanted = set(q.get("labelIds", []))
        spam_trash = q.get("includeSpamTrash", ["false"])[0] == "true"
        search = q.get("q", [""])[0]
        if search and not search.startswith("rfc822msgid:"):
            return 400, {}, _error(400, "Unsupported query", "invalidArgument", "INVALID_ARGUMENT")
        msgid = search.removeprefix("rfc822msgid:").strip().strip("<>")
        found = [
            m
            for m in box.messages.values()
            if wanted <= set(m.label_ids)
            and (spam_trash or not {"SPAM", "TRASH"} & set(m.label_ids))
            and (not msgid or _message_id(m.raw) == msgid)
        ]
        found.sort(key=lambda m: m.internal_date_ms, reverse=True)
        chunk = found[start : start + size]
        body: dict[str, Any] = {"resultSizeEstimate": len(found)}
        if chunk:
            body["messages"] = [{"id": m.id, "threadId": m.thread_id} for m in chunk]
        if start + size < len(found):
            body["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return 200, {}, body

    def _get(self, box: Mailbox, route: str, q: dict[str, list[str]]) -> Reply:
        message = box.messages.get(route.removeprefix("messages/"))
        if message is None:
            return 404, {}, _error(404, "Requested entity was not found.", "notFound", "NOT_FOUND")
        box.gets[message.id] += 1
        if self.expire_tokens_after_gets is not None:
            self.expire_tokens_after_gets -= 1
            if self.expire_tokens_after_gets <= 0:
                self.expire_tokens_after_gets = None
                self.authority.expire_access_tokens()
        return 200, {}, self._resource(message, q.get("format", ["full"])[0])

    def _history(self, box: Mailbox, route: str, q: dict[str, list[str]]) -> Reply:
        start_id = int(q.get("startHistoryId", ["0"])[0])
        if start_id < box.oldest_history:
            return 404, {}, _error(404, "Requested entity was not found.", "notFound", "NOT_FOUND")
        page = self._page(q, 100)
        if page is None:
            return 400, {}, _error(400, "Invalid maxResults", "invalidArgument", "INVALID_ARGUMENT")
        offset, size = page
        keys = {
            "messageAdded": "messagesAdded",
            "messageDeleted": "messagesDeleted",
            "labelAdded": "labelsAdded",
            "labelRemoved": "labelsRemoved",
        }
        types = {keys[t] for t in q.get("historyTypes", []) if t in keys}
        records = [
            h
            for h in box.history
            if int(h["id"]) > start_id and (not types or any(t in h for t in types))
        ]
        chunk = records[offset : offset + size]
        body: dict[str, Any] = {"historyId": str(box.history_id)}
        if chunk:
            body["history"] = chunk
        if offset + size < len(records):
            body["nextPageToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        return 200, {}, body

    # --- HTTP --------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        path = request.url.path
        if request.method == "POST" and path == "/token":
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            status, body = self.authority.grant(form)
            response = Response(json.dumps(body), status, media_type="application/json")
        elif path == "/oauth2/v3/certs":
            response = Response(json.dumps(self.pubsub.jwks()), 200, media_type="application/json")
        elif request.method == "POST" and path.startswith("/calendar/v3/"):
            response = await self._calendar_push(request, path)
        elif path.startswith("/calendar/v3/calendars/") and path.endswith("/events"):
            user = self.authority.user_of(request.headers.get("authorization"))
            if user is None:
                status, body = (
                    401,
                    _error(401, "Invalid Credentials", "authError", "UNAUTHENTICATED"),
                )
            else:
                calendar = path.removeprefix("/calendar/v3/calendars/").removesuffix("/events")
                query = {k: v[-1] for k, v in parse_qs(request.url.query).items()}
                status, body = self.calendar.events(user, calendar, query)
            response = Response(json.dumps(body), status, media_type="application/json")
        elif request.method == "POST" and path == "/batch/gmail/v1":
            response = await self._batch(request)
        else:
            target = path + (f"?{request.url.query}" if request.url.query else "")
            sent = await request.body()
            status, headers, body = self.call(
                request.method,
                target,
                request.headers.get("authorization"),
                body=json.loads(sent) if sent else None,
            )
            content = json.dumps(body) if status != 204 else b""
            response = Response(content, status, headers, media_type="application/json")
        await response(scope, receive, send)

    async def _calendar_push(self, request: Request, path: str) -> Response:
        """events.watch and channels.stop."""
        user = self.authority.user_of(request.headers.get("authorization"))
        if user is None:
            status, body = 401, _error(401, "Invalid Credentials", "authError", "UNAUTHENTICATED")
        else:
            sent = await request.body()
            payload = json.loads(sent) if sent else {}
            if path == "/calendar/v3/channels/stop":
                status, body = self.calendar.stop(user, payload)
            else:
                match = re.fullmatch(r"/calendar/v3/calendars/([^/]+)/events/watch", path)
                calendar = match.group(1) if match else ""
                status, body = self.calendar.watch(user, calendar, payload)
        content = json.dumps(body) if status != 204 else b""
        return Response(content, status, media_type="application/json")

    async def _batch(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        match = re.search(r'boundary="?([^";]+)"?', content_type)
        if not content_type.startswith("multipart/mixed") or match is None:
            return Response(
                json.dumps(_error(400, "Bad batch", "badRequest", "INVALID_ARGUMENT")),
                400,
                media_type="application/json",
            )
        delimiter = b"--" + match.group(1).encode()
        chunks = [c for c in (await request.body()).split(delimiter)[1:] if not c.startswith(b"--")]
        if len(chunks) > 100:
            return Response(
                json.dumps(
                    _error(400, "Too many requests in batch", "badRequest", "INVALID_ARGUMENT")
                ),
                400,
                media_type="application/json",
            )
        answers = []
        arrived = time.monotonic()
        boundary = "batch_" + base64.urlsafe_b64encode(str(time.time_ns()).encode()).decode()
        authorization = request.headers.get("authorization")
        for chunk in chunks:
            outer, _, inner = chunk.strip(b"\r\n").replace(b"\r\n", b"\n").partition(b"\n\n")
            content_id = re.search(rb"Content-ID:\s*<([^>]*)>", outer, re.IGNORECASE)
            line = inner.split(b"\n", 1)[0].decode()
            method, target = line.split()[:2]
            status, headers, body = self.call(method, target, authorization, arrived)
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            cid = content_id.group(1).decode() if content_id else ""
            answers.append(
                f"--{boundary}\r\nContent-Type: application/http\r\n"
                f"Content-ID: <response-{cid}>\r\n\r\n"
                f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                f"Content-Type: application/json; charset=UTF-8\r\n{head}\r\n"
                f"{json.dumps(body)}\r\n"
            )
        payload = "".join(answers) + f"--{boundary}--\r\n"
        return Response(payload, 200, media_type=f"multipart/mixed; boundary={boundary}")
