"""Provider notifications, as rules: what makes one authentic, which account and kind it
is for, and which ones a flood shares a sync with. Pure: the handlers do the I/O.

- Gmail, through a Pub/Sub push subscription: Google signs an OIDC token (checked
  elsewhere) whose issuer is Google, whose audience is the deployment's push audience,
  and whose email is the push subscription's service account; the message's data is
  ``{"emailAddress", "historyId"}`` in base64.
- Google Calendar: the channel id and token the fetcher set at watch time
  (``crm_schemas.push``), in ``X-Goog-Channel-ID`` and ``X-Goog-Channel-Token``;
  ``X-Goog-Resource-State`` is ``sync`` when the channel opens, ``exists`` on a change.
- Microsoft Graph: each notification's ``clientState`` (``crm_schemas.push``); a
  lifecycle notification (``subscriptionRemoved``, ``reauthorizationRequired``,
  ``missed``) asks for the subscription to be renewed or made again.
"""

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from crm_schemas.ids import normalize_email
from crm_schemas.push import PushLabel, mark_matches, read_client_state
from crm_schemas.sync import SyncKind

GOOGLE_ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})
LIFECYCLE_EVENTS = frozenset({"subscriptionRemoved", "reauthorizationRequired", "missed"})


class PushRefused(Exception):  # noqa: N818 - a refusal, answered as problem+json
    """A notification that is not taken: ``status`` and ``detail`` for the sender, ``why``
    (a short code, never a token) for the log."""

    def __init__(self, status: int, detail: str, why: str) -> None:
        super().__init__(detail)
        self.status, self.detail, self.why = status, detail, why


@dataclass(frozen=True, slots=True)
class GoogleAudience:
    """What the deployment's Pub/Sub push tokens must say."""

    audience: str
    service_account: str


@dataclass(frozen=True, slots=True)
class Wanted:
    """A sync a notification asks for: an account (by id) and kind; ``resubscribe`` when
    the provider asked for its subscription to be renewed."""

    account_id: str
    kind: SyncKind
    resubscribe: bool = False


def check_google_claims(claims: Mapping[str, Any], expected: GoogleAudience) -> None:
    """Refuse a Pub/Sub push token not made by Google for this deployment's push
    subscription (its signature and expiry are checked before)."""
    if not expected.service_account:
        raise PushRefused(404, "Gmail push is not set up on this deployment", "not_configured")
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise PushRefused(403, "the token was not issued by Google", "issuer")
    if claims.get("aud") != expected.audience:
        raise PushRefused(403, "the token is for another audience", "audience")
    email = str(claims.get("email", ""))
    if normalize_email(email) != normalize_email(expected.service_account):
        raise PushRefused(403, "the token is not the push subscription's", "service_account")
    if claims.get("email_verified") not in (True, "true"):
        raise PushRefused(403, "the token's email is not verified", "email_unverified")


def gmail_address(envelope: Mapping[str, Any]) -> str:
    """The mailbox a Pub/Sub push of Gmail's topic is about (its data's emailAddress)."""
    message = envelope.get("message")
    data = message.get("data") if isinstance(message, Mapping) else None
    try:
        notice = json.loads(base64.b64decode(str(data), validate=False))
        address = str(notice["emailAddress"])
    except (binascii.Error, ValueError, TypeError, KeyError) as error:
        raise PushRefused(400, "not a Gmail notification", "malformed") from error
    if "@" not in address:
        raise PushRefused(400, "not a Gmail notification", "malformed")
    return normalize_email(address)


def calendar_wanted(headers: Mapping[str, str], keys: Sequence[bytes]) -> Wanted | None:
    """The sync a Google Calendar notification asks for; None for the ``sync`` message a
    new channel sends (nothing changed). Refuses a channel that is not one of ours."""
    label = PushLabel.parse(headers.get("x-goog-channel-id", ""))
    token = headers.get("x-goog-channel-token", "")
    if label is None or label.kind is not SyncKind.CALENDAR:
        raise PushRefused(403, "unknown notification channel", "channel")
    if not mark_matches(keys, label, token):
        raise PushRefused(403, "the channel token does not match", "channel_token")
    state = headers.get("x-goog-resource-state", "")
    if state == "sync":
        return None
    if state not in ("exists", "not_exists"):
        raise PushRefused(400, "unknown resource state", "malformed")
    return Wanted(label.account_id, label.kind)


def graph_wanted(
    body: Mapping[str, Any], keys: Sequence[bytes], lifecycle: bool
) -> tuple[list[Wanted], int]:
    """The syncs a batch of Graph notifications asks for, and how many of its
    notifications were not ours (a wrong ``clientState``: dropped, as Graph advises)."""
    items = body.get("value")
    if not isinstance(items, list):
        raise PushRefused(400, "not a Graph notification", "malformed")
    wanted: list[Wanted] = []
    for item in items:
        state = item.get("clientState") if isinstance(item, Mapping) else None
        label = read_client_state(keys, str(state or ""))
        if label is None:
            continue
        event = item.get("lifecycleEvent")
        if lifecycle and event not in LIFECYCLE_EVENTS:
            continue
        wanted.append(Wanted(label.account_id, label.kind, resubscribe=lifecycle))
    return list(dict.fromkeys(wanted)), len(items) - len(wanted)


def window_of(at: datetime, window: timedelta) -> int:
    """The coalescing window a moment falls in: a flood in one window shares a sync."""
    return int(at.timestamp() // window.total_seconds())


def window_end(index: int, window: timedelta) -> float:
    """When a window ends, in epoch seconds."""
    return (index + 1) * window.total_seconds()


def mark_key(wanted: Wanted, index: int) -> str:
    """The mark of one account, kind and window that one replica takes to queue its sync."""
    what = "resubscribe" if wanted.resubscribe else "push"
    return f"{wanted.account_id}:{wanted.kind.value}:{what}:{index}"
