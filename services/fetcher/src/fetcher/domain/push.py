"""Push subscriptions, as rules: whether an account can have push, when a subscription is
made, renewed or left alone, and what its owner is told.

Gmail's watch lasts 7 days and Google asks for it daily; a Graph subscription on messages
or events lasts at most 4,230 minutes; a Google Calendar channel ends when asked at watch
time. Each is renewed once it is ``renew_every`` old or ends within ``renew_before``.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from crm_schemas.config import OAuthProvider
from crm_schemas.sync import PushState, SyncKind

POLLING = "Changes arrive with the next poll (every few minutes) until push works."


class Step(StrEnum):
    """What to do about one stream's subscription now."""

    KEEP = "keep"
    RENEW = "renew"
    CREATE = "create"


@dataclass(frozen=True, slots=True)
class PushPolicy:
    """The deployment's push settings, as plain values."""

    push_url: str
    allow_http: bool
    gmail_topic: str
    renew_every: timedelta
    renew_before: timedelta
    graph_lifetime: timedelta
    calendar_lifetime: timedelta


@dataclass(frozen=True, slots=True)
class Subscription:
    """One stream's subscription at its provider, as the fetcher keeps it (by ``_id``).

    ``nonce``: the label's nonce of the live subscription (``crm_schemas.push``);
    ``pending``: a nonce being created (set before the provider is asked, so a creation a
    crash interrupted is found and cleaned up); ``resource_id``: the provider's id of it
    (Graph subscription id, Google Calendar resourceId); ``oauth``: the sealed consent,
    kept to delete the subscription once the account is disconnected.
    """

    account_id: str
    kind: SyncKind
    stream: str
    provider: OAuthProvider
    nonce: str | None = None
    pending: str | None = None
    resource_id: str | None = None
    expires_at: datetime | None = None
    renewed_at: datetime | None = None
    failure: str | None = None
    oauth: dict[str, object] | None = None

    @property
    def key(self) -> str:
        """Its ``_id``: one subscription per account, kind and stream."""
        return f"{self.account_id}:{self.kind.value}:{self.stream}"

    @property
    def live(self) -> bool:
        """Whether the provider holds it (created, and not failed since)."""
        return self.nonce is not None and self.expires_at is not None and self.failure is None

    def renewed(self, expires_at: datetime, now: datetime) -> "Subscription":
        """After a renewal (or a creation) that holds until ``expires_at``."""
        return replace(self, expires_at=expires_at, renewed_at=now, failure=None)

    def failed(self, failure: str) -> "Subscription":
        """After a refusal: made again at the next job."""
        return replace(self, failure=failure)


def push_unavailable(
    policy: PushPolicy, provider: OAuthProvider, kind: SyncKind
) -> PushState | None:
    """Why an account of ``provider`` cannot have push for ``kind`` on this deployment,
    None when it can."""
    url = policy.push_url.strip()
    if not url:
        return PushState(
            active=False,
            reason="This deployment has no public HTTPS URL for provider notifications.",
            remedy=f"An operator sets FETCHER_PUSH_URL (docs/push.md). {POLLING}",
        )
    if not url.startswith("https://") and not policy.allow_http:
        return PushState(
            active=False,
            reason=f"No public HTTPS URL: providers only notify https addresses, not {url}.",
            remedy=f"An operator sets FETCHER_PUSH_URL to an https URL. {POLLING}",
        )
    gmail = provider is OAuthProvider.GOOGLE and kind is SyncKind.MAIL
    if gmail and not policy.gmail_topic.strip():
        return PushState(
            active=False,
            reason="No Pub/Sub topic is set up for Gmail notifications.",
            remedy=f"An operator sets FETCHER_GMAIL_PUBSUB_TOPIC (docs/push.md). {POLLING}",
        )
    return None


def next_step(
    found: Subscription | None, now: datetime, policy: PushPolicy, resubscribe: bool = False
) -> Step:
    """Create what is missing or failed; renew what is old, ends soon, or the provider
    asked about (``resubscribe``); keep the rest."""
    if found is None or not found.live:
        return Step.CREATE
    assert found.expires_at is not None
    if found.expires_at <= now:
        return Step.CREATE
    old = found.renewed_at is None or now - found.renewed_at >= policy.renew_every
    if resubscribe or old or found.expires_at - now <= policy.renew_before:
        return Step.RENEW
    return Step.KEEP


def lifetime(policy: PushPolicy, provider: OAuthProvider, kind: SyncKind) -> timedelta:
    """How long to ask a new or renewed subscription to last (Gmail decides its own)."""
    if provider is OAuthProvider.MICROSOFT:
        return policy.graph_lifetime
    if kind is SyncKind.CALENDAR:
        return policy.calendar_lifetime
    return timedelta(days=7)


def push_failed(provider_name: str, why: str) -> PushState:
    """Push is not active because of ``why``; it is tried again at the next job."""
    return PushState(
        active=False,
        reason=f"{provider_name} push is not active: {why}.",
        remedy=f"It is tried again at every sync. {POLLING}",
    )


def push_state(subscriptions: Sequence[Subscription], provider_name: str) -> PushState:
    """What the owner reads: active while every stream's subscription is live, else why
    not (the first failure)."""
    failed = [s for s in subscriptions if not s.live]
    if not subscriptions or failed:
        why = failed[0].failure if failed and failed[0].failure else "not set up yet"
        return push_failed(provider_name, why)
    ends = [s.expires_at for s in subscriptions if s.expires_at is not None]
    return PushState(active=True, expires_at=min(ends) if ends else None)


def covered(requested_at: datetime, last_started: datetime | None, margin: timedelta) -> bool:
    """Whether a push request needs no job of its own: a job of its account and kind
    started after it was made, so that job read what the notification was about. The
    margin absorbs clocks that disagree (the API stamps the request, the fetcher the job):
    when in doubt, the job runs."""
    return last_started is not None and last_started - margin > requested_at
