"""Provider push between the fetcher and the timeline API: where notifications arrive, and
how a notification proves which account and kind it is for.

The fetcher subscribes (Google Calendar channels, Microsoft Graph subscriptions) and the
timeline API receives; they share no database, only the deployment's secrets key. So a
subscription carries a *label* (account, kind and a nonce of its own) and a *mark*: an
HMAC of the label under a key derived from the secrets key (``crm_runtime.secrets.
push_keys``). Only the deployment can make a label and mark that match, so the API
learns the account from a notification and trusts it without asking the fetcher.

- Google Calendar: the channel id is the label, the channel token its mark
  (``X-Goog-Channel-ID``, ``X-Goog-Channel-Token``).
- Microsoft Graph: ``clientState`` is ``<label>:<mark>`` (at most 128 characters).
- Gmail goes through Pub/Sub, whose push carries Google's signed OIDC token instead.
"""

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from crm_schemas.sync import SyncKind

GMAIL_PUSH_PATH = "/v1/push/google/pubsub"
"""Where the Pub/Sub push subscription of Gmail's topic delivers (operator's setting)."""
CALENDAR_PUSH_PATH = "/v1/push/google/calendar"
"""The address of every Google Calendar notification channel."""
GRAPH_PUSH_PATH = "/v1/push/microsoft"
"""The ``notificationUrl`` of every Graph subscription."""
GRAPH_LIFECYCLE_PATH = "/v1/push/microsoft/lifecycle"
"""The ``lifecycleNotificationUrl`` of every Graph subscription."""

# Google channel ids allow [A-Za-z0-9-_+/=], at most 64 characters. A label is the kind's
# letter, a 12-character nonce, then the account id in urlsafe base64 (48 characters for a
# UUID): no separator is needed, and any account id of up to 39 characters fits.
_KINDS = {SyncKind.MAIL: "m", SyncKind.CALENDAR: "c"}
_NONCE = re.compile(r"[0-9a-z]{12}")
_LABEL = re.compile(r"(?P<kind>[mc])(?P<nonce>[0-9a-z]{12})(?P<account>[A-Za-z0-9_-]{2,52})")


@dataclass(frozen=True, slots=True)
class PushLabel:
    """Which account and kind a subscription is for; the nonce (12 lower-case letters or
    digits) makes each one unique."""

    account_id: str
    kind: SyncKind
    nonce: str

    def __post_init__(self) -> None:
        if not _NONCE.fullmatch(self.nonce):
            raise ValueError("a push label's nonce is 12 lower-case letters or digits")

    def __str__(self) -> str:
        account = base64.urlsafe_b64encode(self.account_id.encode()).decode().rstrip("=")
        return f"{_KINDS[self.kind]}{self.nonce}{account}"

    @classmethod
    def parse(cls, text: str) -> "PushLabel | None":
        """The label a channel id or clientState names; None when it is not one of ours."""
        found = _LABEL.fullmatch(text)
        if found is None:
            return None
        try:
            padded = found["account"] + "=" * (-len(found["account"]) % 4)
            account = base64.urlsafe_b64decode(padded).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        kind = SyncKind.MAIL if found["kind"] == "m" else SyncKind.CALENDAR
        return cls(account, kind, found["nonce"])


def push_mark(key: bytes, label: PushLabel) -> str:
    """The label's HMAC-SHA256 under ``key``, urlsafe base64 without padding (43 chars)."""
    digest = hmac.new(key, str(label).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def mark_matches(keys: Sequence[bytes], label: PushLabel, mark: str) -> bool:
    """Whether ``mark`` was made for ``label`` with any of the deployment's keys (the first
    makes new marks; older ones still verify while keys rotate)."""
    return any(hmac.compare_digest(push_mark(key, label), mark) for key in keys)


def client_state(key: bytes, label: PushLabel) -> str:
    """A Graph subscription's ``clientState``: the label and its mark."""
    return f"{label}:{push_mark(key, label)}"


def read_client_state(keys: Sequence[bytes], state: str) -> PushLabel | None:
    """The label of a ``clientState`` the deployment made, None for anything else."""
    text, _, mark = state.rpartition(":")
    label = PushLabel.parse(text)
    if label is None or not mark_matches(keys, label, mark):
        return None
    return label
