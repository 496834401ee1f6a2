"""A Microsoft Graph and Microsoft identity platform emulator, served over TLS (msal only
talks to https authorities).

- ``GET /{tenant}/v2.0/.well-known/openid-configuration`` and
  ``POST /{tenant}/oauth2/v2.0/token`` (refresh grant; ``invalid_grant`` AADSTS70000 when
  the refresh token is revoked).
- ``GET /v1.0/me/mailFolders/{folder}/messages/delta``: pages of ``odata.maxpagesize``
  (default 10) linked by ``@odata.nextLink``, ending in an ``@odata.deltaLink``; a delta
  token the server no longer holds answers 410 Gone ``syncStateNotFound``.
- ``GET /v1.0/me/messages?$filter=internetMessageId eq '<id>'`` (every folder, each with
  its ``parentFolderId``), ``GET /v1.0/me/mailFolders/{id or well-known name}`` (``id``,
  ``displayName``; 404 ``ErrorItemNotFound`` for a folder that does not exist).
- ``GET /v1.0/me/messages/{id}`` with ``$select``, and ``POST /v1.0/$batch`` (at most 20
  requests; each is throttled on its own, 429 with Retry-After inside the batch answer).
- Throttling as Outlook does it: at most 4 concurrent requests per mailbox, and a budget
  of requests per window (10,000 per 10 minutes; the window is scaled in tests); past
  either, 429 ``ApplicationThrottled`` with Retry-After. ``storm(n)`` refuses n requests.
- Change notifications (learn.microsoft.com/graph/webhooks): ``POST /v1.0/subscriptions``
  (``changeType``, ``notificationUrl`` and ``lifecycleNotificationUrl`` over https,
  ``resource`` me/messages, me/mailFolders('x')/messages or me/events,
  ``expirationDateTime`` in the future and at most 4,230 minutes on, ``clientState`` of
  at most 128 characters) first validates each URL: a POST with ``?validationToken=``
  that must answer 200 with the token as text within 10 seconds, else 400 and no
  subscription. ``PATCH`` renews (same limit), ``DELETE`` ends, ``GET`` lists; 404 for
  one Graph does not hold. While it lasts, a new message or a changed event is POSTed
  as ``{"value": [{subscriptionId, changeType, resource, resourceData, clientState,
  tenantId, subscriptionExpirationDateTime}]}``; ``remove_subscription`` and
  ``lifecycle`` send lifecycle notifications (``subscriptionRemoved``, ``missed``,
  ``reauthorizationRequired``).
"""

import asyncio
import base64
import itertools
import json
import re
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .notify import Notifier
from .oauth import TokenAuthority
from .server import Reply

WELL_KNOWN = ("inbox", "sentitems", "drafts", "deleteditems", "junkemail", "archive")
DISPLAY_NAMES = {
    "inbox": "Inbox",
    "sentitems": "Sent Items",
    "drafts": "Drafts",
    "deleteditems": "Deleted Items",
    "junkemail": "Junk Email",
    "archive": "Archive",
}


def folder_id(folder: str) -> str:
    """The opaque id the emulator gives a folder (messages name theirs by well-known name
    or display name)."""
    return "AAMkFolder-" + base64.urlsafe_b64encode(folder.lower().encode()).decode()


MAX_SUBSCRIPTION = timedelta(minutes=4230)  # Outlook messages and events
VALIDATION_TIMEOUT_S = 10.0
TENANT_ID = "84bd8158-6d4d-4958-8b9f-9d6445542f95"
RESOURCE = re.compile(r"/?me/(messages|events|mailFolders\('(\w+)'\)/messages)")


@dataclass
class Subscription:
    """A change-notification subscription of one user's."""

    id: str
    user: str
    resource: str
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expires_at: datetime

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.resource,
            "changeType": ",".join(sorted(self.change_types)),
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "clientState": self.client_state,
            "expirationDateTime": _graph_time(self.expires_at),
            "applicationId": "emulated-app",
            "creatorId": self.user,
        }


def _graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def _parse_time(value: object) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class GraphMessage:
    id: str
    folder: str
    seq: int
    fields: dict[str, Any]


@dataclass
class GraphMailbox:
    address: str
    messages: dict[str, GraphMessage] = field(default_factory=dict)
    seq: int = 0
    oldest_token: int = 0  # delta tokens below this are forgotten (410)
    active: int = 0
    max_active: int = 0
    spent: deque[float] = field(default_factory=deque)
    storm: int = 0
    gets: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    events: dict[str, GraphMessage] = field(default_factory=dict)  # id -> occurrence
    removed: dict[str, int] = field(default_factory=dict)  # event id -> seq of removal


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def _untoken(value: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(value.encode()))
    return loaded


class GraphEmulator:
    """State and ASGI app (``self``)."""

    def __init__(
        self,
        authority: TokenAuthority,
        concurrency: int = 4,
        budget: int = 10000,
        window_s: float = 600.0,
        retry_after_s: float = 1.0,
        tenant: str = "common",
        notifier: Notifier | None = None,
        allow_http: bool = False,
        validation_verify: str | bool = True,
    ) -> None:
        self.authority = authority
        self.concurrency = concurrency
        self.budget = budget
        self.window_s = window_s
        self.retry_after_s = retry_after_s
        self.tenant = tenant
        self.base_url = ""  # set once the server listens
        self.mailboxes: dict[str, GraphMailbox] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self.throttled = 0
        self.notifier = notifier or Notifier()
        self.allow_http = allow_http
        self.validation_verify = validation_verify
        self.subscriptions: dict[str, Subscription] = {}
        self.validations: list[tuple[str, int]] = []  # (url, answer status)

    # --- set-up -------------------------------------------------------------------------
    def mailbox(self, address: str) -> GraphMailbox:
        with self._lock:
            return self.mailboxes.setdefault(address, GraphMailbox(address))

    def deliver(self, address: str, folder: str, fields: dict[str, Any]) -> str:
        """A message arrives in (or is sent to) a folder."""
        with self._lock:
            box = self.mailbox(address)
            box.seq += 1
            message_id = f"AAMkAD{next(self._ids):08d}="
            box.messages[message_id] = GraphMessage(message_id, folder, box.seq, fields)
            self._notify(address, "message", folder, message_id, "created")
            return message_id

    def add_event(self, address: str, fields: dict[str, Any]) -> str:
        """An occurrence is created or changed in the default calendar."""
        with self._lock:
            box = self.mailbox(address)
            box.seq += 1
            event_id = str(fields.get("id") or f"AAMkEV{next(self._ids):08d}=")
            created = event_id not in box.events
            box.events[event_id] = GraphMessage(event_id, "calendar", box.seq, fields)
            box.removed.pop(event_id, None)
            self._notify(address, "event", "", event_id, "created" if created else "updated")
            return event_id

    def remove_event(self, address: str, event_id: str) -> None:
        with self._lock:
            box = self.mailbox(address)
            box.seq += 1
            box.events.pop(event_id)
            box.removed[event_id] = box.seq
            self._notify(address, "event", "", event_id, "deleted")

    def forget_delta_tokens(self, address: str) -> None:
        """The mailbox's delta token cache was flushed: every stored deltaLink is gone."""
        with self._lock:
            box = self.mailbox(address)
            box.seq += 1
            box.oldest_token = box.seq

    def storm(self, address: str, requests: int) -> None:
        self.mailbox(address).storm = requests

    # --- change notifications -------------------------------------------------------------
    def live_subscriptions(self, user: str) -> list[Subscription]:
        """The user's subscriptions that have not expired."""
        now = datetime.now(UTC)
        with self._lock:
            return [s for s in self.subscriptions.values() if s.user == user and s.expires_at > now]

    def _notify(self, user: str, what: str, folder: str, item_id: str, change: str) -> None:
        for sub in self.live_subscriptions(user):
            found = RESOURCE.fullmatch(sub.resource)
            wanted = found is not None and (
                (what == "event" and found.group(1) == "events")
                or (what == "message" and found.group(1) == "messages")
                or (
                    what == "message"
                    and found.group(2) is not None
                    and found.group(2).lower() == folder
                )
            )
            if not wanted or change not in sub.change_types:
                continue
            kind = "Events" if what == "event" else "Messages"
            resource = f"Users/{user}/{kind}/{item_id}"
            item = {
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": _graph_time(sub.expires_at),
                "changeType": change,
                "resource": resource,
                "resourceData": {
                    "@odata.type": f"#Microsoft.Graph.{kind[:-1]}",
                    "@odata.id": resource,
                    "id": item_id,
                },
                "clientState": sub.client_state,
                "tenantId": TENANT_ID,
            }
            self._post(sub.notification_url, {"value": [item]})

    def lifecycle(self, subscription_id: str, event: str) -> None:
        """Graph sends a lifecycle notification (``missed``, ``reauthorizationRequired``)."""
        with self._lock:
            sub = self.subscriptions[subscription_id]
        if sub.lifecycle_url is None:
            return
        item = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": _graph_time(sub.expires_at),
            "tenantId": TENANT_ID,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }
        self._post(sub.lifecycle_url, {"value": [item]})

    def remove_subscription(self, subscription_id: str) -> None:
        """Graph removes a subscription (say, the mailbox moved) and says so."""
        self.lifecycle(subscription_id, "subscriptionRemoved")
        with self._lock:
            del self.subscriptions[subscription_id]

    def _post(self, url: str, body: dict[str, Any]) -> None:
        self.notifier.post(url, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def _https(self, url: str) -> bool:
        return url.startswith("https://") or (self.allow_http and url.startswith("http://"))

    async def _validated(self, url: str) -> bool:
        """The validation handshake: the URL echoes a token, as plain text, in time."""
        token = f"Validation: Testing client application reachability {uuid.uuid4()}"
        try:
            async with httpx.AsyncClient(
                verify=self.validation_verify, timeout=VALIDATION_TIMEOUT_S
            ) as client:
                answer = await client.post(
                    url, params={"validationToken": token}, headers={"Content-Type": "text/plain"}
                )
        except httpx.HTTPError:
            self.validations.append((url, 0))
            return False
        self.validations.append((url, answer.status_code))
        return answer.status_code == 200 and answer.text == token

    def _expiry(self, value: object) -> datetime | str:
        """A requested expiration, or why it is refused."""
        when = _parse_time(value)
        now = datetime.now(UTC)
        if when is None:
            return "expirationDateTime is not a valid date"
        if when <= now:
            return "Subscription expiration can only be in the future"
        if when > now + MAX_SUBSCRIPTION + timedelta(seconds=30):
            return "Subscription expiration can only be 4230 minutes in the future."
        return when

    async def _subscriptions(self, request: Request, user: str) -> Response:
        """POST, GET, PATCH and DELETE on /subscriptions."""
        path = request.url.path.removeprefix("/v1.0/subscriptions").strip("/")
        if request.method == "GET" and not path:
            mine = [s.view() for s in self.live_subscriptions(user)]
            return self._json(200, {"value": mine})
        if request.method == "POST" and not path:
            return await self._subscribe(await request.json(), user)
        with self._lock:
            sub = self.subscriptions.get(path)
        if sub is None or sub.user != user:
            return self._json(404, _error("ResourceNotFound", f"The object was not found: {path}"))
        if request.method == "DELETE":
            with self._lock:
                self.subscriptions.pop(path, None)
            return Response(status_code=204)
        if request.method == "PATCH":
            expiry = self._expiry((await request.json()).get("expirationDateTime"))
            if isinstance(expiry, str):
                return self._json(400, _error("InvalidRequest", expiry))
            sub.expires_at = expiry
            return self._json(200, sub.view())
        return self._json(405, _error("MethodNotAllowed", request.method))

    def _refusal(
        self, url: str, lifecycle: object, resource: str, changes: frozenset[str], state: object
    ) -> str | None:
        """Why Graph refuses a subscription request, None when it takes it."""
        if not self._https(url):
            return "notificationUrl must be https"
        if lifecycle and not self._https(str(lifecycle)):
            return "lifecycleNotificationUrl must be https"
        if not RESOURCE.fullmatch(resource):
            return f"Unsupported resource: {resource}"
        if not changes or not changes <= {"created", "updated", "deleted"}:
            return "Invalid changeType"
        if state and len(str(state)) > 128:
            return "clientState is too long (at most 128 characters)"
        return None

    async def _subscribe(self, body: dict[str, Any], user: str) -> Response:
        url, lifecycle = str(body.get("notificationUrl", "")), body.get("lifecycleNotificationUrl")
        resource, state = str(body.get("resource", "")), body.get("clientState")
        changes = frozenset(
            c.strip() for c in str(body.get("changeType", "")).split(",") if c.strip()
        )
        expiry = self._expiry(body.get("expirationDateTime"))
        refusal = self._refusal(url, lifecycle, resource, changes, state) or (
            expiry if isinstance(expiry, str) else None
        )
        if refusal is not None:
            return self._json(400, _error("InvalidRequest", refusal))
        for target in (url, lifecycle):
            if target and not await self._validated(str(target)):
                message = (
                    "Subscription validation request failed. Notification endpoint must respond"
                    " with 200 OK to validation request."
                )
                return self._json(400, _error("ValidationError", message))
        assert isinstance(expiry, datetime)
        sub = Subscription(
            str(uuid.uuid4()), user, resource, changes, url,
            str(lifecycle) if lifecycle else None, str(state) if state else None, expiry,
        )  # fmt: skip
        with self._lock:
            self.subscriptions[sub.id] = sub
        return self._json(201, sub.view())

    # --- throttling -------------------------------------------------------------------
    def _admit(self, box: GraphMailbox) -> bool:
        now = time.monotonic()
        while box.spent and box.spent[0] + self.window_s <= now:
            box.spent.popleft()
        if box.storm > 0:
            box.storm -= 1
            return False
        if len(box.spent) >= self.budget:
            return False
        box.spent.append(now)
        return True

    def _throttled(self) -> Reply:
        self.throttled += 1
        return (
            429,
            {"Retry-After": f"{self.retry_after_s:g}"},
            _error("ApplicationThrottled", "Application is over its MailboxConcurrency limit."),
        )

    # --- the API ------------------------------------------------------------------------
    def call(self, method: str, target: str, user: str, prefer: str | None = None) -> Reply:
        """One request (top-level or inside a $batch), already authenticated."""
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path.removeprefix("/v1.0")
        with self._lock:
            box = self.mailbox(user)
            if not self._admit(box):
                return self._throttled()
            delta = re.fullmatch(r"/me/mailFolders/([^/]+)/messages/delta", path)
            if method == "GET" and delta:
                box.calls["delta"] += 1
                return self._delta(box, delta.group(1).lower(), query, prefer)
            if method == "GET" and path == "/me/calendarView/delta":
                box.calls["calendar"] += 1
                return self._calendar_delta(box, query, prefer)
            if method == "GET" and path == "/me/messages" and "$filter" in query:
                box.calls["search"] += 1
                return self._search(box, query["$filter"])
            folder = re.fullmatch(r"/me/mailFolders/([^/]+)", path)
            if method == "GET" and folder:
                box.calls["folder"] += 1
                return self._folder(box, folder.group(1))
            single = re.fullmatch(r"/me/messages/([^/]+)", path)
            if method == "GET" and single:
                box.calls["get"] += 1
                return self._get(box, single.group(1), query)
        return 400, {}, _error("BadRequest", f"Unsupported: {method} {path}")

    def _page_size(self, prefer: str | None) -> int:
        match = re.search(r"odata\.maxpagesize=(\d+)", prefer or "")
        return min(int(match.group(1)), 1000) if match else 10

    def _delta(
        self, box: GraphMailbox, folder: str, q: dict[str, str], prefer: str | None = None
    ) -> Reply:
        if folder not in WELL_KNOWN:
            return 404, {}, _error("ErrorInvalidIdMalformed", "Id is malformed.")
        if "$deltatoken" in q:
            state = _untoken(q["$deltatoken"])
            if state["since"] < box.oldest_token:
                return 410, {}, _error("syncStateNotFound", "The sync state is not found.")
            state = {
                "since": state["since"],
                "upto": box.seq,
                "skip": 0,
                "select": state.get("select"),
            }
        elif "$skiptoken" in q:
            state = _untoken(q["$skiptoken"])
            if state["since"] < box.oldest_token and state["since"] > 0:
                return 410, {}, _error("syncStateNotFound", "The sync state is not found.")
        else:
            state = {"since": 0, "upto": box.seq, "skip": 0, "select": q.get("$select")}
        changed = sorted(
            (
                m
                for m in box.messages.values()
                if m.folder == folder and state["since"] < m.seq <= state["upto"]
            ),
            key=lambda m: m.seq,
        )
        size = self._page_size(prefer)
        chunk = changed[state["skip"] : state["skip"] + size]
        select = state.get("select")
        value = [self._resource(m, select) for m in chunk]
        base = f"{self.base_url}/v1.0/me/mailFolders/{folder}/messages/delta"
        body: dict[str, Any] = {
            "@odata.context": f"{self.base_url}/v1.0/$metadata#Collection(message)",
            "value": value,
        }
        if state["skip"] + size < len(changed):
            after = state | {"skip": state["skip"] + size}
            body["@odata.nextLink"] = f"{base}?$skiptoken={quote(_token(after))}"
        else:
            done = {"since": state["upto"], "select": select}
            body["@odata.deltaLink"] = f"{base}?$deltatoken={quote(_token(done))}"
        return 200, {}, body

    def _calendar_delta(self, box: GraphMailbox, q: dict[str, str], prefer: str | None) -> Reply:
        if "$deltatoken" in q:
            state = _untoken(q["$deltatoken"])
            if state["since"] < box.oldest_token:
                return 410, {}, _error("syncStateNotFound", "The sync state is not found.")
            state = state | {"upto": box.seq, "skip": 0}
        elif "$skiptoken" in q:
            state = _untoken(q["$skiptoken"])
        elif "startDateTime" in q and "endDateTime" in q:
            state = {
                "since": 0,
                "upto": box.seq,
                "skip": 0,
                "start": q["startDateTime"],
                "end": q["endDateTime"],
            }
        else:
            return (
                400,
                {},
                _error("ErrorInvalidParameter", "startDateTime and endDateTime are required."),
            )

        def inside(fields: dict[str, Any]) -> bool:
            return bool(
                fields["end"]["dateTime"][:19] >= state["start"][:19]
                and fields["start"]["dateTime"][:19] <= state["end"][:19]
            )

        changed = [
            (e.seq, {"id": e.id, **e.fields})
            for e in box.events.values()
            if state["since"] < e.seq <= state["upto"] and inside(e.fields)
        ]
        if state["since"]:
            changed += [
                (seq, {"id": i, "@removed": {"reason": "deleted"}})
                for i, seq in box.removed.items()
                if state["since"] < seq <= state["upto"]
            ]
        changed.sort(key=lambda pair: pair[0])
        size = self._page_size(prefer)
        chunk = [resource for _, resource in changed[state["skip"] : state["skip"] + size]]
        base = f"{self.base_url}/v1.0/me/calendarView/delta"
        body: dict[str, Any] = {"value": chunk}
        if state["skip"] + size < len(changed):
            body["@odata.nextLink"] = (
                f"{base}?$skiptoken={quote(_token(state | {'skip': state['skip'] + size}))}"
            )
        else:
            done = {"since": state["upto"], "start": state["start"], "end": state["end"]}
            body["@odata.deltaLink"] = f"{base}?$deltatoken={quote(_token(done))}"
        return 200, {}, body

    @staticmethod
    def _resource(message: GraphMessage, select: str | None) -> dict[str, Any]:
        full = {"id": message.id, **message.fields}
        if not select:
            return full
        wanted = {s.strip() for s in select.split(",")} | {"id"}
        return {k: v for k, v in full.items() if k in wanted}

    def _search(self, box: GraphMailbox, condition: str) -> Reply:
        match = re.fullmatch(r"internetMessageId eq '(.*)'", condition.strip())
        if match is None:
            return 400, {}, _error("BadRequest", f"Unsupported $filter: {condition}")
        wanted = match.group(1).replace("''", "'")
        found = [
            {"id": m.id, "parentFolderId": folder_id(m.folder)}
            for m in box.messages.values()
            if m.fields.get("internetMessageId") == wanted
        ]
        return 200, {}, {"value": found}

    def _folder(self, box: GraphMailbox, name: str) -> Reply:
        folders = {f: f for f in WELL_KNOWN} | {
            m.folder.lower(): m.folder for m in box.messages.values()
        }
        for key, folder in folders.items():
            if name.lower() == key or name == folder_id(folder):
                display = DISPLAY_NAMES.get(key, folder)
                return 200, {}, {"id": folder_id(folder), "displayName": display}
        return 404, {}, _error("ErrorItemNotFound", "The specified folder could not be found.")

    def _get(self, box: GraphMailbox, message_id: str, q: dict[str, str]) -> Reply:
        message = box.messages.get(message_id)
        if message is None:
            return 404, {}, _error("ErrorItemNotFound", "The specified object was not found.")
        box.gets[message_id] += 1
        return 200, {}, self._resource(message, q.get("$select"))

    # --- HTTP -----------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self._route(request)
        await response(scope, receive, send)

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(body), status, headers, media_type="application/json")

    async def _route(self, request: Request) -> Response:
        path = request.url.path
        tenant = f"/{self.tenant}"
        if path == f"{tenant}/v2.0/.well-known/openid-configuration":
            root = f"{self.base_url}{tenant}"
            return self._json(
                200,
                {
                    "issuer": f"{root}/v2.0",
                    "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{root}/oauth2/v2.0/token",
                    "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
                },
            )
        if request.method == "POST" and path == f"{tenant}/oauth2/v2.0/token":
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            status, body = self.authority.grant(form)
            if status != 200:
                body = body | {
                    "error_codes": [70000],
                    "error_description": "AADSTS70000: The provided grant has expired"
                    " or been revoked.",
                }
            return self._json(status, body)
        user = self.authority.user_of(request.headers.get("authorization"))
        if user is None:
            return self._json(
                401,
                _error(
                    "InvalidAuthenticationToken", "Access token has expired or is not yet valid."
                ),
            )
        box = self.mailbox(user)
        with self._lock:
            if box.active >= self.concurrency:
                status, headers, body = self._throttled()
                return self._json(status, body, headers)
            box.active += 1
            box.max_active = max(box.max_active, box.active)
        try:
            await asyncio.sleep(0.005)  # requests take time, so concurrency is observable
            if path.startswith("/v1.0/subscriptions"):
                return await self._subscriptions(request, user)
            if request.method == "POST" and path == "/v1.0/$batch":
                return await self._batch(request, user)
            target = path + (f"?{request.url.query}" if request.url.query else "")
            prefer = request.headers.get("prefer")
            status, headers, body = self.call(request.method, target, user, prefer)
            return self._json(status, body, headers)
        finally:
            with self._lock:
                box.active -= 1

    async def _batch(self, request: Request, user: str) -> Response:
        payload = await request.json()
        inner = payload.get("requests", [])
        if len(inner) > 20:
            return self._json(400, _error("BadRequest", "Batch request limit exceeded (20)."))
        responses = []
        for item in inner:
            url = item["url"] if item["url"].startswith("/") else "/" + item["url"]
            status, headers, body = self.call(item.get("method", "GET"), url, user)
            responses.append({"id": item["id"], "status": status, "headers": headers, "body": body})
        return self._json(200, {"responses": responses})
