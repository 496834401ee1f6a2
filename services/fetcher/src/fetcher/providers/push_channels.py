"""Push subscriptions at the providers, one small class each behind ``PushChannel``.

- Gmail ``users.watch`` (developers.google.com/gmail/api/guides/push): the mailbox's
  changes go to a Pub/Sub topic; a watch lasts 7 days and is renewed by watching again;
  ``users.stop`` ends it. One watch per mailbox, so it cannot be duplicated.
- Google Calendar ``events.watch`` (developers.google.com/calendar/api/guides/push): a
  channel per calendar, with our id and token, until its expiration; it cannot be
  extended, so a renewal is a new channel, and ``channels.stop`` (id and resourceId)
  ends the old one.
- Microsoft Graph ``POST /subscriptions`` (learn.microsoft.com/graph/webhooks): our
  ``clientState``, a ``notificationUrl`` Graph validates at once, a lifecycle URL;
  ``PATCH`` extends it, ``DELETE`` ends it, 404 means Graph removed it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

from crm_schemas.config import AccountConfigured
from crm_schemas.push import (
    CALENDAR_PUSH_PATH,
    GRAPH_LIFECYCLE_PATH,
    GRAPH_PUSH_PATH,
    PushLabel,
    client_state,
    push_mark,
)
from crm_schemas.sync import SyncKind
from fetcher.domain.push import Subscription
from fetcher.providers.gcal import google_calendar_streams
from fetcher.providers.http import ApiClient, ApiError

GRAPH_RESOURCES = {SyncKind.MAIL: "me/messages", SyncKind.CALENDAR: "me/events"}
_GRAPH_CHANGES = {SyncKind.MAIL: "created,updated", SyncKind.CALENDAR: "created,updated,deleted"}


@dataclass(frozen=True, slots=True)
class Created:
    """A subscription the provider holds: its id there, and until when."""

    resource_id: str | None
    expires_at: datetime


class SubscriptionGone(Exception):  # noqa: N818 - a state of the provider, not a bug
    """The provider no longer has the subscription: make a new one."""


class PushChannel(Protocol):
    """One account's subscriptions of one kind at its provider."""

    renewable: bool  # False: a renewal is a new subscription, then the old one deleted

    def streams(self) -> Sequence[str]:
        """What is subscribed to, one subscription each."""
        ...

    async def create(self, stream: str, label: PushLabel, expires_at: datetime) -> Created:
        """Subscribe; raises ApiError when the provider refuses."""
        ...

    async def renew(self, found: Subscription, expires_at: datetime) -> Created:
        """Extend a live subscription; SubscriptionGone when the provider lost it."""
        ...

    async def delete(self, found: Subscription, nonce: str | None = None) -> None:
        """End it (the one of ``nonce``, default the live one); gone already is fine."""
        ...

    async def clean_up(self, found: Subscription) -> None:
        """End what a creation a crash interrupted may have left at the provider."""
        ...


def _from_millis(value: object) -> datetime:
    return datetime.fromtimestamp(int(str(value)) / 1000, UTC)


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


async def _ignore_gone(api: ApiClient, method: str, url: str, **kwargs: Any) -> None:
    response = await api.send(method, url, **kwargs)
    if response.status_code >= 300 and response.status_code != 404:
        raise ApiError(response.status_code, response.text)


class GmailWatch:
    """A Gmail mailbox's watch on the deployment's Pub/Sub topic."""

    renewable = True

    def __init__(self, api: ApiClient, base_url: str, topic: str) -> None:
        self._api = api
        self._base = f"{base_url.rstrip('/')}/gmail/v1/users/me"
        self._topic = topic

    def streams(self) -> Sequence[str]:
        """The whole mailbox."""
        return ("gmail",)

    async def create(self, stream: str, label: PushLabel, expires_at: datetime) -> Created:
        """users.watch: every change of the mailbox (the sync job reads only synced labels)."""
        return await self._watch()

    async def renew(self, found: Subscription, expires_at: datetime) -> Created:
        """Watching again renews the mailbox's one watch."""
        return await self._watch()

    async def _watch(self) -> Created:
        body = await self._api.json("POST", f"{self._base}/watch", json={"topicName": self._topic})
        return Created(None, _from_millis(body["expiration"]))

    async def delete(self, found: Subscription, nonce: str | None = None) -> None:
        """users.stop."""
        await _ignore_gone(self._api, "POST", f"{self._base}/stop")

    async def clean_up(self, found: Subscription) -> None:
        """Nothing: a second watch is the same watch."""


class CalendarChannels:
    """Notification channels on an account's Google calendars."""

    renewable = False

    def __init__(
        self, api: ApiClient, base_url: str, account: AccountConfigured, push_url: str, key: bytes
    ) -> None:
        self._api = api
        self._base = f"{base_url.rstrip('/')}/calendar/v3"
        self._account = account
        self._address = push_url.rstrip("/") + CALENDAR_PUSH_PATH
        self._key = key

    def streams(self) -> Sequence[str]:
        """The calendars the account syncs."""
        return google_calendar_streams(self._account)

    async def create(self, stream: str, label: PushLabel, expires_at: datetime) -> Created:
        """events.watch with our channel id (the label) and token (its mark)."""
        body = await self._api.json(
            "POST",
            f"{self._base}/calendars/{quote(stream, safe='')}/events/watch",
            json={
                "id": str(label),
                "type": "web_hook",
                "address": self._address,
                "token": push_mark(self._key, label),
                "expiration": _millis(expires_at),
            },
        )
        return Created(str(body["resourceId"]), _from_millis(body["expiration"]))

    async def renew(self, found: Subscription, expires_at: datetime) -> Created:
        """Channels cannot be extended (the keeper makes a new one)."""
        raise SubscriptionGone("Google Calendar channels are replaced, not extended")

    async def delete(self, found: Subscription, nonce: str | None = None) -> None:
        """channels.stop of the live channel (or of ``nonce``'s)."""
        nonce = nonce or found.nonce
        if nonce is None or found.resource_id is None:
            return
        label = PushLabel(found.account_id, found.kind, nonce)
        await _ignore_gone(
            self._api,
            "POST",
            f"{self._base}/channels/stop",
            json={"id": str(label), "resourceId": found.resource_id},
        )

    async def clean_up(self, found: Subscription) -> None:
        """Stop the channel whose creation was interrupted: a calendar's resourceId is the
        same for every channel on it, so it is known once one channel was made."""
        if found.pending is not None:
            await self.delete(found, found.pending)


class GraphSubscriptions:
    """Change-notification subscriptions on a Microsoft 365 mailbox or calendar."""

    renewable = True

    def __init__(
        self, api: ApiClient, base_url: str, kind: SyncKind, push_url: str, key: bytes
    ) -> None:
        self._api = api
        self._base = f"{base_url.rstrip('/')}/subscriptions"
        self._kind = kind
        self._url = push_url.rstrip("/") + GRAPH_PUSH_PATH
        self._lifecycle = push_url.rstrip("/") + GRAPH_LIFECYCLE_PATH
        self._key = key

    def streams(self) -> Sequence[str]:
        """Every message of the mailbox, or every event of the calendar."""
        return (GRAPH_RESOURCES[self._kind],)

    async def create(self, stream: str, label: PushLabel, expires_at: datetime) -> Created:
        """POST /subscriptions; Graph validates the notification URL before answering."""
        body = await self._api.json(
            "POST",
            self._base,
            json={
                "changeType": _GRAPH_CHANGES[self._kind],
                "notificationUrl": self._url,
                "lifecycleNotificationUrl": self._lifecycle,
                "resource": stream,
                "expirationDateTime": _graph_time(expires_at),
                "clientState": client_state(self._key, label),
            },
        )
        return Created(str(body["id"]), datetime.fromisoformat(str(body["expirationDateTime"])))

    async def renew(self, found: Subscription, expires_at: datetime) -> Created:
        """PATCH the expiration (which also reauthorises it)."""
        url = f"{self._base}/{found.resource_id}"
        response = await self._api.send(
            "PATCH", url, json={"expirationDateTime": _graph_time(expires_at)}
        )
        if response.status_code == 404:
            raise SubscriptionGone(f"Graph has no subscription {found.resource_id}")
        if response.status_code >= 300:
            raise ApiError(response.status_code, response.text)
        body = response.json()
        return Created(found.resource_id, datetime.fromisoformat(str(body["expirationDateTime"])))

    async def delete(self, found: Subscription, nonce: str | None = None) -> None:
        """DELETE the subscription."""
        if found.resource_id is not None:
            await _ignore_gone(self._api, "DELETE", f"{self._base}/{found.resource_id}")

    async def clean_up(self, found: Subscription) -> None:
        """Delete every subscription of ours on this resource but the live one (Graph
        gives no way to name a subscription, so an interrupted creation is found by its
        URL and resource)."""
        body = await self._api.json("GET", self._base)
        for item in body.get("value", []):
            ours = item.get("notificationUrl") == self._url and item.get("resource") == found.stream
            if ours and item.get("id") != found.resource_id:
                await _ignore_gone(self._api, "DELETE", f"{self._base}/{item['id']}")
