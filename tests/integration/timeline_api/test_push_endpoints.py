"""The push endpoints on the real Kafka and FerretDB: an authentic notification queues a
push sync for its account and kind; a forged or stray one is refused (problem+json) and
queues nothing; a flood queues one; the accounts API shows whether push is active.

Google's keys come from the Gmail emulator's JWKS, and its Pub/Sub signs the tokens."""

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from crm_runtime.secrets import push_keys
from crm_schemas.config import AccountConfigured, OAuthConnection, OAuthProvider
from crm_schemas.push import (
    CALENDAR_PUSH_PATH,
    GMAIL_PUSH_PATH,
    GRAPH_LIFECYCLE_PATH,
    GRAPH_PUSH_PATH,
    PushLabel,
    client_state,
    push_mark,
)
from crm_schemas.sync import PushState, SyncKind, SyncRequested, SyncState, SyncStatusChanged
from tests.emulators.gmail import GmailEmulator
from tests.emulators.oauth import TokenAuthority
from tests.emulators.pubsub import PubSub, new_key
from tests.emulators.server import EmulatorServer
from tests.integration.fetcher.conftest import read_topic
from timeline_api.settings import TimelineSettings

from .conftest import Timeline, eventually

pytestmark = pytest.mark.integration
PUBLIC = "https://crm.example.com"
SERVICE_ACCOUNT = "gmail-push@crm-test.iam.gserviceaccount.com"
WORKSPACE = "ws-push"


@pytest.fixture(scope="module")
def google() -> Iterator[tuple[GmailEmulator, str]]:
    """Google's published keys (and the Pub/Sub that signs with them)."""
    emulator = GmailEmulator(TokenAuthority("id", "secret"))
    with EmulatorServer(emulator) as server:
        yield emulator, server.base_url


@pytest.fixture
def settings(isolated: dict[str, str], google: tuple[GmailEmulator, str]) -> TimelineSettings:
    return TimelineSettings(
        kafka_bootstrap=isolated["kafka_bootstrap"],
        mongo_url=isolated["mongo_url"],
        topic_prefix=isolated["topic_prefix"],
        group_prefix=isolated["group_prefix"],
        mongo_db=f"{isolated['mongo_db_prefix']}_timeline",
        log_json=False,
        public_url=PUBLIC,
        push_google_service_account=SERVICE_ACCOUNT,
        push_google_certs_url=f"{google[1]}/oauth2/v3/certs",
        push_coalesce_s=30,  # a test's flood falls in one window
    )


def account(email: str, provider: OAuthProvider) -> AccountConfigured:
    return AccountConfigured(
        account_id=f"acc-{email}",
        workspace_id=WORKSPACE,
        owner_member_id="m-1",
        email=email,
        oauth=OAuthConnection(provider=provider, refresh_token_encrypted="sealed"),
    )


@pytest.fixture
async def accounts(timeline: Timeline) -> dict[OAuthProvider, AccountConfigured]:
    found = {
        OAuthProvider.GOOGLE: account("ann@acme.test", OAuthProvider.GOOGLE),
        OAuthProvider.MICROSOFT: account("bob@acme.test", OAuthProvider.MICROSOFT),
    }
    for one in found.values():
        await timeline.directory.save_account(one)
    return found


async def queued(settings: TimelineSettings) -> list[SyncRequested]:
    """Every sync request on the topic now (publishing returns once Kafka has it)."""
    records = await read_topic(settings.kafka_bootstrap, settings.topics.sync_requests)
    return [SyncRequested.model_validate_json(value) for _, value in records]


def gmail_push(pubsub: PubSub, address: str, token: str | None) -> tuple[bytes, dict[str, str]]:
    sub = pubsub.subscribe(pubsub.create_topic("gmail"), PUBLIC + GMAIL_PUSH_PATH, SERVICE_ACCOUNT)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return pubsub.envelope(sub, {"emailAddress": address, "historyId": 42}), headers


async def test_a_gmail_notification_queues_a_push_sync_of_that_mailbox(
    timeline: Timeline, accounts: dict[OAuthProvider, AccountConfigured], google: Any
):
    pubsub: PubSub = google[0].pubsub
    token = pubsub.token(PUBLIC + GMAIL_PUSH_PATH, SERVICE_ACCOUNT)
    body, headers = gmail_push(pubsub, "ann@acme.test", token)
    answer = await timeline.client.post(GMAIL_PUSH_PATH, content=body, headers=headers)
    assert answer.status_code == 204, answer.text
    (request,) = await queued(timeline.settings)
    assert (request.account_id, request.kind, request.reason) == (
        accounts[OAuthProvider.GOOGLE].account_id,
        SyncKind.MAIL,
        "push",
    )


@pytest.mark.parametrize(
    ("forgery", "status"),
    [
        ("no token", 401),
        ("signed with another key", 401),
        ("expired", 401),
        ("another audience", 403),
        ("another service account", 403),
        ("not issued by Google", 403),
        ("an unknown mailbox", 404),
    ],
)
async def test_a_forged_or_stray_gmail_notification_changes_nothing(
    timeline: Timeline,
    accounts: dict[OAuthProvider, AccountConfigured],
    google: Any,
    forgery: str,
    status: int,
):
    pubsub: PubSub = google[0].pubsub
    audience, address = PUBLIC + GMAIL_PUSH_PATH, "ann@acme.test"
    tokens: dict[str, str | None] = {
        "no token": None,
        "signed with another key": pubsub.token(audience, SERVICE_ACCOUNT, key=new_key()),
        "expired": pubsub.token(audience, SERVICE_ACCOUNT, lifetime_s=-120),
        "another audience": pubsub.token("https://elsewhere.test/push", SERVICE_ACCOUNT),
        "another service account": pubsub.token(audience, "intruder@evil.iam.test"),
        "not issued by Google": pubsub.token(audience, SERVICE_ACCOUNT, issuer="https://evil"),
        "an unknown mailbox": pubsub.token(audience, SERVICE_ACCOUNT),
    }
    if forgery == "an unknown mailbox":
        address = "stranger@acme.test"
    body, headers = gmail_push(pubsub, address, tokens[forgery])
    answer = await timeline.client.post(GMAIL_PUSH_PATH, content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert "Bearer" not in answer.text  # nothing of the token is echoed
    assert await queued(timeline.settings) == []


def calendar_headers(timeline: Timeline, account_id: str, state: str, token: str | None = None):
    label = PushLabel(account_id, SyncKind.CALENDAR, "0123456789ab")
    keys = push_keys(timeline.settings.secrets_key)
    return {
        "X-Goog-Channel-ID": str(label),
        "X-Goog-Channel-Token": token or push_mark(keys[0], label),
        "X-Goog-Resource-State": state,
        "X-Goog-Resource-ID": "resource-1",
        "X-Goog-Message-Number": "2",
    }


async def test_a_calendar_channel_notification_queues_a_calendar_sync(
    timeline: Timeline, accounts: dict[OAuthProvider, AccountConfigured]
):
    ann = accounts[OAuthProvider.GOOGLE].account_id
    opened = await timeline.client.post(
        CALENDAR_PUSH_PATH, headers=calendar_headers(timeline, ann, "sync")
    )
    assert opened.status_code == 200  # the channel's first message asks for nothing
    changed = await timeline.client.post(
        CALENDAR_PUSH_PATH, headers=calendar_headers(timeline, ann, "exists")
    )
    assert changed.status_code == 200, changed.text
    (request,) = await queued(timeline.settings)
    assert (request.account_id, request.kind) == (ann, SyncKind.CALENDAR)


async def test_a_calendar_notification_with_a_wrong_token_changes_nothing(
    timeline: Timeline, accounts: dict[OAuthProvider, AccountConfigured]
):
    ann = accounts[OAuthProvider.GOOGLE].account_id
    headers = calendar_headers(timeline, ann, "exists", token="guessed-token")
    answer = await timeline.client.post(CALENDAR_PUSH_PATH, headers=headers)
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"
    unknown = calendar_headers(timeline, "acc-nobody@acme.test", "exists")
    assert (await timeline.client.post(CALENDAR_PUSH_PATH, headers=unknown)).status_code == 404
    assert await queued(timeline.settings) == []


def graph_item(timeline: Timeline, account_id: str, kind: SyncKind, **extra: str) -> dict:
    keys = push_keys(timeline.settings.secrets_key)
    state = client_state(keys[0], PushLabel(account_id, kind, "0123456789ab"))
    return {"subscriptionId": "sub-1", "clientState": state, "tenantId": "t"} | extra


async def test_graph_validates_the_notification_urls_by_a_plain_text_echo(timeline: Timeline):
    token = "Validation: Testing client application reachability <script>"
    for path in (GRAPH_PUSH_PATH, GRAPH_LIFECYCLE_PATH):
        answer = await timeline.client.post(path, params={"validationToken": token})
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        assert answer.text == token


async def test_graph_notifications_queue_a_sync_and_a_lifecycle_one_asks_to_resubscribe(
    timeline: Timeline, accounts: dict[OAuthProvider, AccountConfigured]
):
    bob = accounts[OAuthProvider.MICROSOFT].account_id
    change = graph_item(timeline, bob, SyncKind.MAIL, changeType="created")
    answer = await timeline.client.post(GRAPH_PUSH_PATH, json={"value": [change]})
    assert answer.status_code == 202, answer.text
    removed = graph_item(timeline, bob, SyncKind.CALENDAR, lifecycleEvent="subscriptionRemoved")
    answer = await timeline.client.post(GRAPH_LIFECYCLE_PATH, json={"value": [removed]})
    assert answer.status_code == 202, answer.text
    requests = sorted(await queued(timeline.settings), key=lambda r: r.kind.value)
    assert [(r.kind, r.reason, r.resubscribe) for r in requests] == [
        (SyncKind.CALENDAR, "push", True),
        (SyncKind.MAIL, "push", False),
    ]


async def test_a_graph_notification_with_a_wrong_client_state_changes_nothing(
    timeline: Timeline, accounts: dict[OAuthProvider, AccountConfigured]
):
    bob = accounts[OAuthProvider.MICROSOFT].account_id
    forged = graph_item(timeline, bob, SyncKind.MAIL, changeType="created")
    forged["clientState"] = forged["clientState"][:-4] + "AAAA"
    answer = await timeline.client.post(GRAPH_PUSH_PATH, json={"value": [forged]})
    assert answer.status_code == 403
    malformed = await timeline.client.post(GRAPH_PUSH_PATH, content=b"not json")
    assert malformed.status_code == 400
    assert await queued(timeline.settings) == []


async def test_a_flood_of_notifications_for_one_account_queues_one_sync(
    timeline: Timeline, accounts: dict[OAuthProvider, AccountConfigured]
):
    bob = accounts[OAuthProvider.MICROSOFT].account_id
    change = graph_item(timeline, bob, SyncKind.MAIL, changeType="created")
    answers = await asyncio.gather(
        *(timeline.client.post(GRAPH_PUSH_PATH, json={"value": [change]}) for _ in range(30))
    )
    assert {a.status_code for a in answers} == {202}
    assert sum(int(a.headers["x-push-queued"]) for a in answers) == 1
    assert len(await queued(timeline.settings)) == 1  # one more follows the window's end


async def test_the_accounts_api_says_whether_push_is_active_and_why_not(
    timeline: Timeline, accounts: dict[OAuthProvider, AccountConfigured]
):
    await timeline.login(WORKSPACE)
    ann = accounts[OAuthProvider.GOOGLE]
    off = PushState(
        active=False,
        reason="This deployment has no public HTTPS URL for provider notifications.",
        remedy="An operator sets FETCHER_PUSH_URL (docs/push.md).",
    )
    for kind, push in ((SyncKind.MAIL, off), (SyncKind.CALENDAR, PushState(active=True))):
        status = SyncStatusChanged(
            account_id=ann.account_id,
            workspace_id=WORKSPACE,
            kind=kind,
            state=SyncState.UP_TO_DATE,
            push=push,
        )
        await timeline.publish(timeline.settings.topics.sync_status, ann.account_id, status)

    def reported(accounts_seen: list[dict[str, Any]]) -> bool:
        mine = [a for a in accounts_seen if a["id"] == ann.account_id]
        return bool(mine) and all(s.get("push") for s in mine[0]["status"])

    async def listed() -> list[dict[str, Any]]:
        answer = await timeline.client.get("/v1/accounts")
        return list(answer.json()) if answer.status_code == 200 else []

    seen = await eventually(listed, reported)
    (mine,) = [a for a in seen if a["id"] == ann.account_id]
    pushes = {s["kind"]: s["push"] for s in mine["status"]}
    assert pushes["mail"]["active"] is False
    assert "HTTPS URL" in pushes["mail"]["reason"]
    assert pushes["calendar"]["active"] is True
    assert json.dumps(mine).count("sealed") == 0  # no token crosses over
