"""Provider notifications: what makes one authentic and which sync it asks for (the pure
rules), and the inbox that queues those syncs, coalesced, over in-memory fakes."""

import asyncio
import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from crm_schemas.config import AccountConfigured, OAuthConnection, OAuthProvider
from crm_schemas.push import PushLabel, client_state, push_mark, read_client_state
from crm_schemas.sync import SyncKind, SyncRequested
from timeline_api.adapters.push_marks import MemoryPushMarks
from timeline_api.domain.push import (
    GoogleAudience,
    PushRefused,
    Wanted,
    calendar_wanted,
    check_google_claims,
    gmail_address,
    graph_wanted,
)
from timeline_api.ports.push import PushTokenError
from timeline_api.service.push import PushInbox

KEY, OLD_KEY, OTHER_KEY = b"k" * 32, b"o" * 32, b"x" * 32
ACCOUNT = "6f1c0d52-2f55-5b7b-9a53-7f0e0a3a1b2c"
AUDIENCE = GoogleAudience("https://crm.example.com/v1/push/google/pubsub", "push@p.iam.test")
GOOD_CLAIMS = {
    "iss": "https://accounts.google.com",
    "aud": AUDIENCE.audience,
    "email": AUDIENCE.service_account,
    "email_verified": True,
}


def label(kind: SyncKind = SyncKind.CALENDAR, account: str = ACCOUNT) -> PushLabel:
    return PushLabel(account, kind, "a1b2c3d4e5f6")


def envelope(address: str) -> dict[str, Any]:
    data = base64.b64encode(json.dumps({"emailAddress": address, "historyId": 9}).encode())
    return {"message": {"data": data.decode(), "messageId": "1"}, "subscription": "s"}


def calendar_headers(token: str, state: str = "exists", kind: SyncKind = SyncKind.CALENDAR):
    return {
        "x-goog-channel-id": str(label(kind)),
        "x-goog-channel-token": token,
        "x-goog-resource-state": state,
    }


# --- labels and marks (crm_schemas.push) --------------------------------------------


def test_a_label_fits_a_google_channel_id_and_reads_back():
    text = str(label())
    assert len(text) <= 64
    assert re.fullmatch(r"[A-Za-z0-9\-_+/=]+", text)  # Google's channel id alphabet
    assert PushLabel.parse(text) == label()
    assert PushLabel.parse(str(label(account="acc-owner@acme.test"))) is not None
    assert PushLabel.parse("someone-elses-channel") is None


def test_a_client_state_is_ours_only_with_a_mark_of_our_keys():
    state = client_state(OLD_KEY, label(SyncKind.MAIL))
    assert len(state) <= 128
    assert read_client_state([KEY, OLD_KEY], state) == label(SyncKind.MAIL)  # while rotating
    assert read_client_state([OTHER_KEY], state) is None
    forged = f"{label(SyncKind.MAIL)}:{push_mark(OTHER_KEY, label(SyncKind.MAIL))}"
    assert read_client_state([KEY], forged) is None


# --- the rules (domain.push) ------------------------------------------------------------


def test_a_google_token_for_this_deployments_push_subscription_is_accepted():
    check_google_claims(GOOD_CLAIMS, AUDIENCE)
    check_google_claims(GOOD_CLAIMS | {"iss": "accounts.google.com"}, AUDIENCE)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"iss": "https://evil.test"}, "issuer"),
        ({"aud": "https://crm.example.com/elsewhere"}, "audience"),
        ({"email": "someone@else.iam.test"}, "service_account"),
        ({"email_verified": False}, "email_unverified"),
    ],
)
def test_a_token_made_for_someone_else_is_refused(change: dict[str, Any], why: str):
    with pytest.raises(PushRefused) as refused:
        check_google_claims(GOOD_CLAIMS | change, AUDIENCE)
    assert (refused.value.status, refused.value.why) == (403, why)


def test_gmail_push_is_refused_where_no_service_account_is_set_up():
    with pytest.raises(PushRefused) as refused:
        check_google_claims(GOOD_CLAIMS, GoogleAudience(AUDIENCE.audience, ""))
    assert refused.value.status == 404


def test_a_gmail_notification_names_its_mailbox():
    assert gmail_address(envelope("Owner@Acme.TEST")) == "owner@acme.test"
    for broken in ({}, {"message": {"data": "not base64 json"}}, envelope("nobody")):
        with pytest.raises(PushRefused):
            gmail_address(broken)


def test_a_calendar_notification_with_our_token_asks_for_a_calendar_sync():
    wanted = calendar_wanted(calendar_headers(push_mark(KEY, label())), [KEY])
    assert wanted == Wanted(ACCOUNT, SyncKind.CALENDAR)


def test_a_channels_first_sync_message_asks_for_nothing():
    assert calendar_wanted(calendar_headers(push_mark(KEY, label()), "sync"), [KEY]) is None


@pytest.mark.parametrize(
    "headers",
    [
        calendar_headers("wrong-token"),
        calendar_headers(push_mark(OTHER_KEY, label())),
        calendar_headers(push_mark(KEY, label(SyncKind.MAIL)), kind=SyncKind.MAIL),
        {"x-goog-channel-id": "not-ours", "x-goog-resource-state": "exists"},
    ],
)
def test_a_calendar_notification_without_our_token_is_refused(headers: dict[str, str]):
    with pytest.raises(PushRefused) as refused:
        calendar_wanted(headers, [KEY])
    assert refused.value.status == 403


def test_graph_notifications_with_a_wrong_client_state_are_dropped():
    ours = {"clientState": client_state(KEY, label(SyncKind.MAIL)), "changeType": "created"}
    theirs = {"clientState": "guess", "changeType": "created"}
    wanted, foreign = graph_wanted({"value": [ours, ours, theirs]}, [KEY], lifecycle=False)
    assert wanted == [Wanted(ACCOUNT, SyncKind.MAIL)]
    assert foreign == 1
    with pytest.raises(PushRefused):
        graph_wanted({"nothing": []}, [KEY], lifecycle=False)


def test_a_graph_lifecycle_notification_asks_to_resubscribe():
    item = {
        "clientState": client_state(KEY, label(SyncKind.CALENDAR)),
        "lifecycleEvent": "subscriptionRemoved",
    }
    wanted, _ = graph_wanted({"value": [item]}, [KEY], lifecycle=True)
    assert wanted == [Wanted(ACCOUNT, SyncKind.CALENDAR, resubscribe=True)]


# --- the inbox (service.push) -----------------------------------------------------------


def google_account(account_id: str = ACCOUNT, workspace: str = "ws") -> AccountConfigured:
    return AccountConfigured(
        account_id=account_id,
        workspace_id=workspace,
        owner_member_id="m",
        email="owner@acme.test",
        oauth=OAuthConnection(provider=OAuthProvider.GOOGLE, refresh_token_encrypted="s"),
    )


@dataclass
class Accounts:
    known: dict[str, AccountConfigured] = field(default_factory=dict)

    async def account(self, account_id: str) -> AccountConfigured | None:
        return self.known.get(account_id)

    async def accounts_by_email(self, email: str) -> list[AccountConfigured]:
        return [a for a in self.known.values() if a.email == email and not a.disconnected]


class Tokens:
    """Claims by token; anything else is a bad signature."""

    async def claims(self, token: str) -> Mapping[str, Any]:
        if token == "signed-by-google":
            return GOOD_CLAIMS
        raise PushTokenError("Signature verification failed")


@dataclass
class Queue:
    requests: list[SyncRequested] = field(default_factory=list)
    two: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, key: str, event: BaseModel) -> None:
        assert isinstance(event, SyncRequested)
        assert key == event.account_id
        self.requests.append(event)
        if len(self.requests) >= 2:
            self.two.set()


def inbox(
    marks: MemoryPushMarks, queue: Queue, window_s: float = 60.0, *accounts: AccountConfigured
) -> PushInbox:
    """An inbox whose clock stands at the start of a window (a flood falls in one)."""
    known = {a.account_id: a for a in (accounts or (google_account(),))}
    start = datetime.now(UTC).timestamp() // window_s * window_s + 0.001
    return PushInbox(
        Accounts(known),
        marks,
        queue,
        Tokens(),
        [KEY],
        AUDIENCE,
        window=timedelta(seconds=window_s),
        clock=lambda: datetime.fromtimestamp(start, UTC),
    )


async def test_a_gmail_notification_queues_a_push_sync_of_the_mailbox():
    queue = Queue()
    received = await inbox(MemoryPushMarks(), queue).gmail(
        "Bearer signed-by-google", envelope("owner@acme.test")
    )
    assert received.queued == 1
    (request,) = queue.requests
    assert (request.account_id, request.kind, request.reason) == (ACCOUNT, SyncKind.MAIL, "push")


@pytest.mark.parametrize(
    ("authorization", "address", "status"),
    [
        (None, "owner@acme.test", 401),
        ("Bearer forged", "owner@acme.test", 401),
        ("Bearer signed-by-google", "stranger@acme.test", 404),
    ],
)
async def test_a_forged_or_stray_gmail_notification_queues_nothing(
    authorization: str | None, address: str, status: int
):
    queue = Queue()
    with pytest.raises(PushRefused) as refused:
        await inbox(MemoryPushMarks(), queue).gmail(authorization, envelope(address))
    assert refused.value.status == status
    assert queue.requests == []


async def test_a_calendar_channel_of_a_disconnected_account_queues_nothing():
    gone = google_account().model_copy(update={"disconnected": True, "oauth": None})
    queue = Queue()
    with pytest.raises(PushRefused) as refused:
        await inbox(MemoryPushMarks(), queue, 60.0, gone).calendar(
            calendar_headers(push_mark(KEY, label()))
        )
    assert refused.value.status == 404
    assert queue.requests == []


async def test_a_flood_for_one_account_queues_one_sync_now_and_one_after_the_window():
    queue, marks = Queue(), MemoryPushMarks()
    box = inbox(marks, queue, 0.3)
    headers = calendar_headers(push_mark(KEY, label()))
    received = [await box.calendar(headers) for _ in range(20)]
    assert sum(r.queued for r in received) == 1
    assert sum(r.coalesced for r in received) == 19
    async with asyncio.timeout(5):
        await queue.two.wait()
    assert len(queue.requests) == 2  # the one after covers what came during the first
    await box.close()


async def test_several_api_replicas_queue_one_sync_for_one_notification_flood():
    queue, marks = Queue(), MemoryPushMarks()  # the marks are shared, as in MongoDB
    replicas = [inbox(marks, queue, 60.0) for _ in range(3)]
    headers = calendar_headers(push_mark(KEY, label()))
    for replica in replicas * 3:
        await replica.calendar(headers)
    assert len(queue.requests) == 1
    for replica in replicas:
        await replica.close()  # the waiting "after" sync is cancelled with its replica


async def test_old_marks_are_swept():
    marks = MemoryPushMarks()
    assert await marks.claim("a", datetime(2026, 1, 1, tzinfo=UTC))
    assert not await marks.claim("a", datetime.now(UTC))
    assert await marks.sweep(datetime(2026, 6, 1, tzinfo=UTC)) == 1
    assert await marks.claim("a", datetime.now(UTC))
