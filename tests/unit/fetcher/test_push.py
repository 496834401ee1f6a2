"""Push subscriptions: the rules (when to make, renew or keep one; what the owner reads)
and the keeper over an in-memory store and a fake provider."""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from crm_schemas.config import AccountConfigured, OAuthConnection, OAuthProvider
from crm_schemas.push import PushLabel
from crm_schemas.sync import SyncKind, SyncRequested, SyncState, SyncStatusChanged
from fetcher.adapters.push_state import MemoryPushStates
from fetcher.domain.push import (
    PushPolicy,
    Step,
    Subscription,
    covered,
    next_step,
    push_state,
    push_unavailable,
)
from fetcher.providers.http import ApiError
from fetcher.providers.push_channels import Created, PushChannel, SubscriptionGone
from fetcher.push import PushKeeper
from fetcher.push_jobs import JobPush, WithPushState

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
POLICY = PushPolicy(
    push_url="https://crm.example.com",
    allow_http=False,
    gmail_topic="projects/p/topics/gmail",
    renew_every=timedelta(days=1),
    renew_before=timedelta(days=1),
    graph_lifetime=timedelta(minutes=4230),
    calendar_lifetime=timedelta(days=7),
)


def account(provider: OAuthProvider = OAuthProvider.MICROSOFT) -> AccountConfigured:
    return AccountConfigured(
        account_id="6f1c0d52-2f55-5b7b-9a53-7f0e0a3a1b2c",
        workspace_id="ws",
        owner_member_id="m",
        email="owner@acme.test",
        oauth=OAuthConnection(provider=provider, refresh_token_encrypted="sealed"),
    )


def live(expires_in: timedelta, renewed_ago: timedelta = timedelta(0)) -> Subscription:
    return Subscription(
        "acc",
        SyncKind.MAIL,
        "me/messages",
        OAuthProvider.MICROSOFT,
        nonce="n00000000001",
        resource_id="sub-1",
        expires_at=T0 + expires_in,
        renewed_at=T0 - renewed_ago,
    )


# --- the rules --------------------------------------------------------------------------


def test_push_is_off_without_a_public_https_url():
    for url in ("", "http://crm.example.com"):
        off = push_unavailable(replace(POLICY, push_url=url), OAuthProvider.GOOGLE, SyncKind.MAIL)
        assert off is not None
        assert not off.active
        assert off.reason is not None
        assert "HTTPS URL" in off.reason


def test_gmail_push_needs_a_pubsub_topic_but_graph_does_not():
    no_topic = replace(POLICY, gmail_topic="")
    gmail = push_unavailable(no_topic, OAuthProvider.GOOGLE, SyncKind.MAIL)
    assert gmail is not None
    assert "Pub/Sub topic" in str(gmail.reason)
    assert push_unavailable(no_topic, OAuthProvider.GOOGLE, SyncKind.CALENDAR) is None
    assert push_unavailable(no_topic, OAuthProvider.MICROSOFT, SyncKind.MAIL) is None


def test_a_missing_failed_or_expired_subscription_is_made():
    assert next_step(None, T0, POLICY) is Step.CREATE
    assert next_step(live(timedelta(days=2)).failed("refused"), T0, POLICY) is Step.CREATE
    assert next_step(live(-timedelta(minutes=1)), T0, POLICY) is Step.CREATE


def test_a_subscription_is_renewed_daily_or_when_it_ends_within_a_day():
    assert next_step(live(timedelta(days=2), timedelta(hours=2)), T0, POLICY) is Step.KEEP
    assert next_step(live(timedelta(days=2), timedelta(days=1)), T0, POLICY) is Step.RENEW
    assert next_step(live(timedelta(hours=20), timedelta(hours=2)), T0, POLICY) is Step.RENEW


def test_a_lifecycle_notification_renews_at_once():
    fresh = live(timedelta(days=2), timedelta(minutes=5))
    assert next_step(fresh, T0, POLICY, resubscribe=True) is Step.RENEW


def test_the_owner_reads_whether_push_is_active_and_why_not():
    active = push_state([live(timedelta(days=2))], "Microsoft")
    assert active.active
    assert active.expires_at == T0 + timedelta(days=2)
    failed = push_state([live(timedelta(days=2)).failed("Microsoft refused it")], "Microsoft")
    assert not failed.active
    assert "Microsoft refused it" in str(failed.reason)
    assert failed.remedy is not None
    assert "poll" in failed.remedy


def test_a_push_request_is_covered_only_by_a_job_that_started_after_it():
    margin = timedelta(seconds=2)
    assert covered(T0, T0 + timedelta(seconds=3), margin)
    assert not covered(T0, T0 + timedelta(seconds=1), margin)  # clocks may disagree
    assert not covered(T0, T0 - timedelta(seconds=5), margin)
    assert not covered(T0, None, margin)


# --- the keeper -------------------------------------------------------------------------


@dataclass
class FakeChannel:
    """A provider's subscriptions, as the keeper sees them."""

    renewable: bool = True
    stream_names: tuple[str, ...] = ("me/messages",)
    lifetime: timedelta = timedelta(days=2)
    alive: dict[str, str] = field(default_factory=dict)  # resource id -> label
    refuse: bool = False
    lost: bool = False
    made: int = 0
    deleted: list[str] = field(default_factory=list)
    cleaned: int = 0
    now: datetime = T0

    def streams(self) -> Sequence[str]:
        return self.stream_names

    async def create(self, stream: str, label: PushLabel, expires_at: datetime) -> Created:
        if self.refuse:
            raise ApiError(400, '{"error": {"code": "ValidationError"}}')
        self.made += 1
        resource = f"sub-{self.made}" if self.renewable else "calendar-resource"
        self.alive[f"{resource}:{label.nonce}"] = str(label)
        return Created(resource, self.now + self.lifetime)

    async def renew(self, found: Subscription, expires_at: datetime) -> Created:
        if self.lost or not self.renewable:
            raise SubscriptionGone("gone")
        return Created(found.resource_id, self.now + self.lifetime)

    async def delete(self, found: Subscription, nonce: str | None = None) -> None:
        key = f"{found.resource_id}:{nonce or found.nonce}"
        self.alive.pop(key, None)
        self.deleted.append(key)

    async def clean_up(self, found: Subscription) -> None:
        self.cleaned += 1


@dataclass
class Harness:
    channel: FakeChannel
    states: MemoryPushStates
    keeper: PushKeeper
    clock: list[datetime]

    def at(self, moment: datetime) -> None:
        self.clock[0] = moment
        self.channel.now = moment


def harness(channel: FakeChannel | None = None, connected: bool = True) -> Harness:
    fake = channel or FakeChannel()
    states = MemoryPushStates()
    clock = [T0]
    nonces = iter(f"n{i:011d}" for i in range(1, 100))

    @asynccontextmanager
    async def open_channel(
        acc: AccountConfigured, kind: SyncKind, key: bytes
    ) -> AsyncIterator[PushChannel]:
        yield fake

    async def is_connected(account_id: str) -> bool:
        return connected

    keeper = PushKeeper(
        POLICY,
        states,
        open_channel,
        [b"k" * 32],
        is_connected,
        clock=lambda: clock[0],
        nonce=lambda: next(nonces),
    )
    return Harness(fake, states, keeper, clock)


async def test_the_first_sync_of_an_account_subscribes_and_reports_push_active():
    h = harness()
    state = await h.keeper.keep(account(), SyncKind.MAIL)
    assert state is not None
    assert state.active
    (sub,) = await h.states.of_account(account().account_id)
    assert (sub.nonce, sub.pending, sub.resource_id) == ("n00000000001", None, "sub-1")
    assert sub.oauth is not None  # the consent is kept to delete it after a disconnect


async def test_later_syncs_leave_a_fresh_subscription_alone():
    h = harness()
    await h.keeper.keep(account(), SyncKind.MAIL)
    h.at(T0 + timedelta(hours=3))
    await h.keeper.keep(account(), SyncKind.MAIL)
    assert h.channel.made == 1


async def test_a_subscription_is_renewed_before_it_expires():
    h = harness()
    await h.keeper.keep(account(), SyncKind.MAIL)
    h.at(T0 + timedelta(days=1, hours=1))
    state = await h.keeper.keep(account(), SyncKind.MAIL)
    assert h.channel.made == 1  # extended, not made again
    assert state is not None
    assert state.expires_at == T0 + timedelta(days=3, hours=1)


async def test_a_subscription_the_provider_lost_is_made_again():
    h = harness()
    await h.keeper.keep(account(), SyncKind.MAIL)
    h.channel.lost = True
    state = await h.keeper.keep(account(), SyncKind.MAIL, resubscribe=True)
    assert h.channel.made == 2
    assert state is not None
    assert state.active
    (sub,) = await h.states.of_account(account().account_id)
    assert sub.resource_id == "sub-2"
    assert "sub-1:n00000000001" in h.channel.deleted  # the old one, should it still exist


async def test_a_channel_that_cannot_be_extended_is_replaced_and_the_old_one_stopped():
    h = harness(FakeChannel(renewable=False, stream_names=("primary",)))
    acc = account(OAuthProvider.GOOGLE)
    await h.keeper.keep(acc, SyncKind.CALENDAR)
    h.at(T0 + timedelta(days=6, hours=12))
    await h.keeper.keep(acc, SyncKind.CALENDAR)
    assert h.channel.made == 2
    assert list(h.channel.alive) == ["calendar-resource:n00000000002"]


async def test_a_refused_subscription_says_why_and_is_tried_again_next_time():
    h = harness(FakeChannel(refuse=True))
    state = await h.keeper.keep(account(), SyncKind.MAIL)
    assert state is not None
    assert not state.active
    assert "HTTP 400 ValidationError" in str(state.reason)
    h.channel.refuse = False
    state = await h.keeper.keep(account(), SyncKind.MAIL)
    assert state is not None
    assert state.active


async def test_a_creation_a_crash_interrupted_is_cleaned_up_not_duplicated():
    h = harness()
    interrupted = Subscription(
        account().account_id,
        SyncKind.MAIL,
        "me/messages",
        OAuthProvider.MICROSOFT,
        pending="n00000000000",
    )
    await h.states.save(interrupted)
    await h.keeper.keep(account(), SyncKind.MAIL)
    assert h.channel.cleaned == 1
    assert h.channel.made == 1


async def test_a_restarted_replica_finds_the_subscriptions_where_they_are():
    h = harness()
    await h.keeper.keep(account(), SyncKind.MAIL)
    again = harness(h.channel)
    again.keeper.states = h.states  # the same database, a new process
    await again.keeper.keep(account(), SyncKind.MAIL)
    assert h.channel.made == 1


async def test_a_disconnected_account_loses_its_subscriptions():
    h = harness()
    await h.keeper.keep(account(), SyncKind.MAIL)
    assert await h.keeper.forget(account().account_id) == 1
    assert h.channel.alive == {}
    assert await h.states.of_account(account().account_id) == []


async def test_an_account_disconnected_while_it_subscribed_is_unsubscribed_at_once():
    h = harness(connected=False)
    await h.keeper.keep(account(), SyncKind.MAIL)
    assert h.channel.alive == {}
    assert await h.states.of_account(account().account_id) == []


async def test_push_off_on_the_deployment_touches_no_provider():
    h = harness()
    h.keeper.policy = replace(POLICY, push_url="")
    state = await h.keeper.keep(account(), SyncKind.MAIL)
    assert state is not None
    assert not state.active
    assert h.channel.made == 0


# --- around the jobs --------------------------------------------------------------------


@dataclass
class Recorded:
    events: list[object] = field(default_factory=list)

    async def __call__(self, topic: str, key: str, event: object) -> None:
        self.events.append(event)

    async def many(self, outgoing: Sequence[tuple[str, str, object]]) -> None:
        self.events.extend(e for _, _, e in outgoing)


async def test_the_push_state_rides_on_the_jobs_status_reports():
    recorded = Recorded()
    state = push_state([live(timedelta(days=2))], "Microsoft")
    stamped = WithPushState(recorded, state)  # type: ignore[arg-type]
    status = SyncStatusChanged(
        account_id="a", workspace_id="w", kind=SyncKind.MAIL, state=SyncState.UP_TO_DATE
    )
    await stamped("t", "a", status)
    await stamped.many([("t", "a", status)])
    assert [e.push for e in recorded.events] == [state, state]  # type: ignore[attr-defined]


@pytest.mark.parametrize("resubscribe", [False, True])
async def test_a_flood_of_push_requests_costs_one_job(resubscribe: bool):
    h = harness()
    jobs = JobPush(h.keeper)
    early = SyncRequested(
        account_id=account().account_id,
        workspace_id="ws",
        kind=SyncKind.MAIL,
        reason="push",
        requested_at=datetime.now(UTC) - timedelta(seconds=10),
        resubscribe=resubscribe,
    )
    assert not jobs.covered(early)
    await jobs.prepare(account(), early)
    assert jobs.covered(early) is not resubscribe  # a lifecycle request is never skipped
