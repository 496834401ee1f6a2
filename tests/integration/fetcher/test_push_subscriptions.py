"""Push subscriptions at the emulated providers (Gmail watch, Google Calendar channels,
Graph subscriptions with their validation handshake), kept by the fetcher's keeper with
its state on the real FerretDB."""

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from crm_runtime.mongo import Document
from crm_runtime.secrets import SecretBox, push_keys
from crm_schemas.config import AccountConfigured, OAuthProvider
from crm_schemas.push import GMAIL_PUSH_PATH, read_client_state
from crm_schemas.sync import SyncKind
from fetcher.adapters.passwords import SealedPasswords
from fetcher.adapters.push_state import MemoryPushStates, MongoPushStates
from fetcher.domain.push import Subscription
from fetcher.providers.factory import ProviderFactory
from fetcher.push import PushKeeper, push_policy
from fetcher.settings import FetcherSettings
from tests.emulators.gmail import GmailEmulator
from tests.emulators.graph import GraphEmulator
from tests.emulators.oauth import TokenAuthority
from tests.emulators.server import EmulatorServer

from .providers import CLIENT_ID, CLIENT_SECRET, external_mail, graph_message, oauth_account

pytestmark = pytest.mark.integration
OWNER = "owner@acme.test"


@dataclass
class Receiver:
    """Stands in for the timeline API's push endpoints: answers Graph's handshake (unless
    told not to) and keeps what it is sent."""

    handshake: bool = True
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        token = request.query_params.get("validationToken")
        if token is not None:
            answer: Response = PlainTextResponse(token if self.handshake else "no", 200)
        else:
            self.received.append((request.url.path, dict(request.headers), await request.body()))
            answer = Response(status_code=202)
        await answer(scope, receive, send)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    app = Receiver()
    with EmulatorServer(app) as server:
        yield app, server.base_url


@pytest.fixture
def google(receiver: tuple[Receiver, str]) -> Iterator[tuple[GmailEmulator, str, str]]:
    """Gmail and Google Calendar, a Pub/Sub topic pushing to the receiver."""
    emulator = GmailEmulator(TokenAuthority(CLIENT_ID, CLIENT_SECRET), allow_http=True)
    topic = emulator.pubsub.create_topic("gmail")
    emulator.pubsub.subscribe(topic, receiver[1] + GMAIL_PUSH_PATH, "push@crm.iam.test")
    with EmulatorServer(emulator) as server:
        yield emulator, server.base_url, topic
    emulator.notifier.close()


@pytest.fixture
def graph(tls: tuple[str, str]) -> Iterator[GraphEmulator]:
    emulator = GraphEmulator(TokenAuthority(CLIENT_ID, CLIENT_SECRET), allow_http=True)
    with EmulatorServer(emulator, certfile=tls[1], keyfile=tls[1]) as server:
        emulator.base_url = server.base_url
        yield emulator
    emulator.notifier.close()


@pytest.fixture
def push_settings(
    settings: FetcherSettings,
    receiver: tuple[Receiver, str],
    google: tuple[GmailEmulator, str, str],
    graph: GraphEmulator,
    tls: tuple[str, str],
) -> FetcherSettings:
    _, google_url, topic = google
    return settings.model_copy(
        update={
            "google_client_id": CLIENT_ID,
            "google_client_secret": SecretStr(CLIENT_SECRET),
            "google_token_uri": f"{google_url}/token",
            "gmail_api_url": google_url,
            "gcal_api_url": google_url,
            "microsoft_client_id": CLIENT_ID,
            "microsoft_client_secret": SecretStr(CLIENT_SECRET),
            "microsoft_authority": f"{graph.base_url}/common",
            "graph_api_url": f"{graph.base_url}/v1.0",
            "provider_ca_file": tls[0],
            "provider_attempts": 2,
            "push_url": receiver[1],
            "push_allow_http": True,  # the receiver is plain http on 127.0.0.1
            "gmail_pubsub_topic": topic,
        }
    )


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now


def keeper_for(
    settings: FetcherSettings, db: AsyncDatabase[Document], clock: Clock | None = None
) -> PushKeeper:
    factory = ProviderFactory(settings, SealedPasswords(SecretBox(settings.secrets_key)))

    async def connected(account_id: str) -> bool:
        return True

    return PushKeeper(
        policy=push_policy(settings),
        states=MongoPushStates(db),
        open_channel=factory.open_push,
        keys=push_keys(settings.secrets_key),
        connected=connected,
        clock=clock or Clock(),
    )


def account(settings: FetcherSettings, provider: OAuthProvider, token: str) -> AccountConfigured:
    return oauth_account(SecretBox(settings.secrets_key), provider, OWNER, token)


def both(
    settings: FetcherSettings, gmail: GmailEmulator, graph: GraphEmulator
) -> tuple[AccountConfigured, AccountConfigured]:
    """A Microsoft and a Google account of the owner (distinct ids)."""
    microsoft = account(settings, OAuthProvider.MICROSOFT, graph.authority.consent(OWNER))
    google = account(settings, OAuthProvider.GOOGLE, gmail.authority.consent(OWNER))
    return microsoft, google.model_copy(update={"account_id": "acc-google"})


async def test_a_gmail_account_is_watched_and_its_new_mail_is_pushed(
    push_settings: FetcherSettings,
    db: AsyncDatabase[Document],
    google: tuple[GmailEmulator, str, str],
    receiver: tuple[Receiver, str],
):
    gmail, _, topic = google
    acc = account(push_settings, OAuthProvider.GOOGLE, gmail.authority.consent(OWNER))
    state = await keeper_for(push_settings, db).keep(acc, SyncKind.MAIL)
    assert state is not None
    assert state.active, state
    watch = gmail.mailbox(OWNER).watch
    assert watch is not None
    assert watch.topic == topic

    gmail.deliver(OWNER, external_mail(1, "push"))
    gmail.notifier.wait_idle()
    ((path, headers, body),) = receiver[0].received
    assert path == GMAIL_PUSH_PATH
    assert headers["authorization"].startswith("Bearer ")
    data = json.loads(base64.b64decode(json.loads(body)["message"]["data"]))
    assert data["emailAddress"] == OWNER


async def test_a_graph_subscription_is_validated_and_carries_our_client_state(
    push_settings: FetcherSettings,
    db: AsyncDatabase[Document],
    graph: GraphEmulator,
    receiver: tuple[Receiver, str],
):
    acc = account(push_settings, OAuthProvider.MICROSOFT, graph.authority.consent(OWNER))
    state = await keeper_for(push_settings, db).keep(acc, SyncKind.MAIL)
    assert state is not None
    assert state.active, state
    assert [status for _, status in graph.validations] == [200, 200]  # both URLs
    (sub,) = graph.live_subscriptions(OWNER)
    assert sub.resource == "me/messages"
    assert sub.expires_at <= datetime.now(UTC) + timedelta(minutes=4230)

    graph.deliver(OWNER, "inbox", graph_message(1, "push"))
    graph.notifier.wait_idle()
    ((_, _, body),) = receiver[0].received
    (item,) = json.loads(body)["value"]
    label = read_client_state(push_keys(push_settings.secrets_key), item["clientState"])
    assert label is not None
    assert (label.account_id, label.kind) == (acc.account_id, SyncKind.MAIL)


async def test_a_notification_url_that_fails_the_handshake_gets_no_subscription(
    push_settings: FetcherSettings,
    db: AsyncDatabase[Document],
    graph: GraphEmulator,
    receiver: tuple[Receiver, str],
):
    receiver[0].handshake = False
    acc = account(push_settings, OAuthProvider.MICROSOFT, graph.authority.consent(OWNER))
    state = await keeper_for(push_settings, db).keep(acc, SyncKind.CALENDAR)
    assert state is not None
    assert not state.active
    assert "HTTP 400 ValidationError" in str(state.reason)
    assert graph.live_subscriptions(OWNER) == []


async def test_subscriptions_are_renewed_before_they_expire(
    push_settings: FetcherSettings,
    db: AsyncDatabase[Document],
    google: tuple[GmailEmulator, str, str],
    graph: GraphEmulator,
):
    gmail, _, _ = google
    clock = Clock()
    # The keeper's clock runs a day ahead of the emulators' by the second call: ask for a
    # lifetime that still ends within Graph's 4,230 minutes of the emulator's now.
    short = push_settings.model_copy(update={"graph_subscription_minutes": 4230 - 1442})
    keeper = keeper_for(short, db, clock)
    microsoft, google_acc = both(push_settings, gmail, graph)
    await keeper.keep(microsoft, SyncKind.MAIL)
    await keeper.keep(google_acc, SyncKind.CALENDAR)
    (sub,) = graph.live_subscriptions(OWNER)
    (channel,) = gmail.calendar.live_channels(OWNER)
    first_expiry = sub.expires_at

    clock.now += timedelta(days=1, minutes=1)  # a day on: due, still a day short of the end
    await keeper.keep(microsoft, SyncKind.MAIL)
    await keeper.keep(google_acc, SyncKind.CALENDAR)
    (renewed,) = graph.live_subscriptions(OWNER)
    assert renewed.id == sub.id  # PATCHed, not made again
    assert renewed.expires_at > first_expiry
    (replacement,) = gmail.calendar.live_channels(OWNER)  # the old channel is stopped
    assert replacement.id != channel.id


async def test_a_subscription_graph_removed_is_made_again(
    push_settings: FetcherSettings, db: AsyncDatabase[Document], graph: GraphEmulator
):
    keeper = keeper_for(push_settings, db)
    acc = account(push_settings, OAuthProvider.MICROSOFT, graph.authority.consent(OWNER))
    await keeper.keep(acc, SyncKind.CALENDAR)
    (sub,) = graph.live_subscriptions(OWNER)
    graph.remove_subscription(sub.id)
    state = await keeper.keep(acc, SyncKind.CALENDAR, resubscribe=True)
    assert state is not None
    assert state.active
    (again,) = graph.live_subscriptions(OWNER)
    assert again.id != sub.id


async def test_a_restarted_fetcher_neither_loses_nor_duplicates_subscriptions(
    push_settings: FetcherSettings,
    db: AsyncDatabase[Document],
    google: tuple[GmailEmulator, str, str],
    graph: GraphEmulator,
):
    gmail, _, _ = google
    microsoft, google_acc = both(push_settings, gmail, graph)
    for _ in range(2):  # a new keeper each time: a new process on the same database
        await keeper_for(push_settings, db).keep(microsoft, SyncKind.MAIL)
        await keeper_for(push_settings, db).keep(google_acc, SyncKind.CALENDAR)
    assert len(graph.live_subscriptions(OWNER)) == 1
    assert len(gmail.calendar.live_channels(OWNER)) == 1


async def test_a_disconnect_deletes_the_subscriptions_at_the_providers(
    push_settings: FetcherSettings,
    db: AsyncDatabase[Document],
    google: tuple[GmailEmulator, str, str],
    graph: GraphEmulator,
):
    gmail, _, _ = google
    keeper = keeper_for(push_settings, db)
    microsoft, google_acc = both(push_settings, gmail, graph)
    for kind in SyncKind:
        await keeper.keep(microsoft, kind)
        await keeper.keep(google_acc, kind)
    assert len(graph.live_subscriptions(OWNER)) == 2

    assert await keeper.forget(microsoft.account_id) == 2
    assert await keeper.forget(google_acc.account_id) == 2
    assert graph.live_subscriptions(OWNER) == []
    assert gmail.calendar.live_channels(OWNER) == []
    assert gmail.mailbox(OWNER).watch is None


# --- the state store's contract: MongoDB and the in-memory twin ---------------------------


@pytest.fixture(params=["mongo", "memory"])
def states(
    request: pytest.FixtureRequest, db: AsyncDatabase[Document]
) -> MongoPushStates | MemoryPushStates:
    return MongoPushStates(db) if request.param == "mongo" else MemoryPushStates()


async def test_the_push_state_store_keeps_each_stream_of_an_account_by_key(
    states: MongoPushStates | MemoryPushStates,
):
    now = datetime.now(UTC).replace(microsecond=0)
    mail = Subscription("a", SyncKind.MAIL, "gmail", OAuthProvider.GOOGLE, oauth={"x": "sealed"})
    cal = Subscription(
        "a", SyncKind.CALENDAR, "primary", OAuthProvider.GOOGLE, pending="n00000000001"
    )
    other = Subscription("b", SyncKind.MAIL, "me/messages", OAuthProvider.MICROSOFT)
    for sub in (mail, cal, other):
        await states.save(sub)
    renewed = mail.renewed(now + timedelta(days=7), now)
    await states.save(renewed)
    assert await states.of_account("a") == [cal, renewed]
    await states.delete(cal)
    await states.delete(cal)  # idempotent
    assert await states.of_account("a") == [renewed]
    assert await states.of_account("b") == [other]
