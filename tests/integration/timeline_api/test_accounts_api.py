"""Connecting accounts through the API, each protocol checked on a real server.

IMAP is the stack's Dovecot, CalDAV its Radicale (and Xandikos, which has no logins),
SMTP an aiosmtpd server with AUTH started by the test on 127.0.0.1.
"""

import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr

from crm_schemas.config import AccountConfigured, TlsMode
from crm_schemas.sync import SyncKind, SyncState, SyncStatusChanged
from tests.integration.timeline_api.builders import mail, person
from tests.integration.timeline_api.conftest import Timeline, eventually
from timeline_api.adapters.connection_check import CheckPolicy, check_caldav, check_imap, check_smtp
from timeline_api.domain.access import Role
from timeline_api.domain.connection import Failure

PASSWORD = os.environ.get("STACK_IMAP_TEST_PASSWORD", "test-password")
IMAP_PORT = int(os.environ.get("STACK_IMAP_PORT", 10143))
RADICALE = f"http://127.0.0.1:{os.environ.get('STACK_CALDAV_PORT', 15232)}/"
XANDIKOS = f"http://127.0.0.1:{os.environ.get('STACK_XANDIKOS_PORT', 15233)}/"
STACK_DIR = Path(os.environ.get("STACK_DIR", Path(__file__).parents[3] / ".stack"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Logins:
    """Accepts one user name and password, refuses everything else."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.user
            and data.password.decode() == self.password
        )
        if ok:
            return AuthResult(success=True)
        # aiosmtpd 1.4 answers nothing to a refusal without a message: give it its 535
        return AuthResult(success=False, handled=False, message="535 5.7.8 Invalid credentials")


class _Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return "250 OK"


@pytest.fixture
def smtp_server(unique: str) -> Iterator[tuple[int, str]]:
    """An SMTP server with AUTH on 127.0.0.1 that knows one login."""
    user = f"a-{unique}@acme.test"
    port = _free_port()
    controller = Controller(
        _Sink(),
        hostname="127.0.0.1",
        port=port,
        authenticator=_Logins(user, PASSWORD),
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield port, user
    finally:
        controller.stop()


@pytest.fixture
def website() -> Iterator[str]:
    """A plain web server on 127.0.0.1 that is not a CalDAV server: what a user who typed
    their company's site instead of the calendar address gets."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._page()

        def do_PROPFIND(self) -> None:
            self._page(405)

        def _page(self, status: int = 200) -> None:
            body = b"<html><body>Welcome to Acme</body></html>"
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _body(user: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": user,
        "imap": {
            "host": "127.0.0.1",
            "port": IMAP_PORT,
            "tls": "none",
            "username": user,
            "password": PASSWORD,
        },
        "caldav": {"url": XANDIKOS},
        "mail": {"visibility": "full", "contact_creation": "sent_and_received"},
    }
    body.update(overrides)
    return body


async def test_an_account_is_connected_once_every_protocol_passes_and_never_shows_a_password(
    timeline: Timeline, unique: str, smtp_server: tuple[int, str]
) -> None:
    smtp_port, user = smtp_server
    owner = await timeline.login(f"ws-{unique}", user)
    body = _body(user, smtp={"host": "127.0.0.1", "port": smtp_port, "tls": "none"})

    tested = await timeline.client.post("/v1/accounts/test", json=body)
    created = await timeline.client.post("/v1/accounts", json=body)

    assert tested.status_code == 200, tested.text
    assert [(c["protocol"], c["ok"]) for c in tested.json()["checks"]] == [
        ("IMAP", True),
        ("SMTP", True),
        ("CalDAV", True),
    ]
    assert created.status_code == 201, created.text
    account = created.json()
    assert account["owner_member_id"] == owner.member_id
    assert account["mail"]["visibility"] == "full"
    assert [s["state"] for s in account["status"]] == ["pending", "pending"]
    listed = await timeline.get_json("/v1/accounts")
    assert [a["id"] for a in listed] == [account["id"]] if isinstance(listed, list) else False
    for text in (created.text, tested.text, str(listed)):
        assert PASSWORD not in text
        assert "password" not in text
    stored = await timeline.directory.account(account["id"])
    assert stored is not None
    assert stored.imap is not None
    assert PASSWORD not in stored.model_dump_json()  # sealed at rest
    again = await timeline.client.post("/v1/accounts", json=body)
    assert again.status_code == 409


async def test_a_wrong_password_is_refused_by_protocol_and_nothing_is_stored(
    timeline: Timeline, unique: str, smtp_server: tuple[int, str]
) -> None:
    smtp_port, user = smtp_server
    await timeline.login(f"ws-{unique}", user)
    body = _body(user)
    body["imap"]["password"] = "wrong"
    body["smtp"] = {"host": "127.0.0.1", "port": smtp_port, "tls": "none", "password": "wrong"}
    body["caldav"] = {"url": RADICALE, "username": user, "password": "wrong"}

    tested = await timeline.client.post("/v1/accounts/test", json=body)
    created = await timeline.client.post("/v1/accounts", json=body)

    checks = {c["protocol"]: c for c in tested.json()["checks"]}
    assert tested.json()["ok"] is False
    assert {p: c["failure"] for p, c in checks.items()} == {
        "IMAP": "auth",
        "SMTP": "auth",
        "CalDAV": "auth",
    }
    assert "refused the user name or password" in checks["IMAP"]["message"]
    assert created.status_code == 422
    assert created.headers["content-type"] == "application/problem+json"
    assert "Nothing was saved" in created.json()["detail"]
    assert [c["failure"] for c in created.json()["checks"]] == ["auth", "auth", "auth"]
    assert await timeline.directory.workspace_accounts(f"ws-{unique}") == []


async def test_each_failure_is_said_in_words_a_user_understands(
    timeline: Timeline, unique: str, website: str
) -> None:
    user = f"b-{unique}@acme.test"
    await timeline.login(f"ws-{unique}", user)
    closed = _free_port()
    cases = {
        "dns": {"imap": {**_body(user)["imap"], "host": "no-such-host.invalid"}},
        "connection": {"imap": {**_body(user)["imap"], "port": closed}},
        "tls": {"imap": {**_body(user)["imap"], "tls": "ssl"}},
        "no_such_folder": {"mail": {"include_folders": ["Projects/Nope"]}},
        "not_caldav": {"caldav": {"url": website, "password": "x"}},
    }
    for failure, change in cases.items():
        body = _body(user, **change)
        if failure != "not_caldav":
            body.pop("caldav")
        else:
            body.pop("imap")
            body["caldav"]["username"] = user
        tested = (await timeline.client.post("/v1/accounts/test", json=body)).json()
        [failed] = [c for c in tested["checks"] if not c["ok"]]
        assert failed["failure"] == failure, (failure, tested)
        assert failed["message"]
        assert "Traceback" not in failed["message"]


async def test_private_hosts_are_refused_unless_the_deployment_allows_them(unique: str) -> None:
    user, secret = f"c-{unique}@acme.test", SecretStr(PASSWORD)
    strict, relaxed = CheckPolicy(allow_private=False, timeout_s=5), CheckPolicy(True, 5)

    refused = [
        await check_imap("127.0.0.1", IMAP_PORT, TlsMode.NONE, user, secret, (), strict),
        await check_imap("localhost", IMAP_PORT, TlsMode.NONE, user, secret, (), strict),
        await check_caldav(XANDIKOS, user, secret, strict),
        await check_smtp("127.0.0.1", 25, TlsMode.NONE, user, secret, strict),
    ]
    allowed = await check_imap("127.0.0.1", IMAP_PORT, TlsMode.NONE, user, secret, (), relaxed)

    assert [c.failure for c in refused] == [Failure.FORBIDDEN_HOST] * 4
    assert "private or local address" in refused[0].message
    assert allowed.ok, allowed


async def test_settings_change_is_published_and_status_follows_the_fetcher(
    timeline: Timeline, unique: str
) -> None:
    user = f"d-{unique}@acme.test"
    ws = f"ws-{unique}"
    await timeline.login(ws, user)
    account = (await timeline.client.post("/v1/accounts", json=_body(user))).json()

    changed = await timeline.client.patch(
        f"/v1/accounts/{account['id']}",
        json={
            "mail": {"visibility": "metadata", "blocklist": ["Spam.Example", "x@Y.test"]},
            "calendar": {"contact_creation": False},
        },
    )
    bad = await timeline.client.patch(
        f"/v1/accounts/{account['id']}", json={"mail": {"visibility": "everything"}}
    )
    status = SyncStatusChanged(
        account_id=account["id"],
        workspace_id=ws,
        kind=SyncKind.MAIL,
        state=SyncState.FAILING,
        reason="The IMAP server refused the password",
        remedy="Update the password of this account",
    )
    await timeline.publish(timeline.settings.topics.sync_status, account["id"], status)

    assert changed.status_code == 200, changed.text
    assert changed.json()["mail"]["visibility"] == "metadata"
    assert changed.json()["mail"]["blocklist"] == ["spam.example", "x@y.test"]
    assert changed.json()["calendar"]["contact_creation"] is False
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"][:3] == ["body", "mail", "visibility"]
    seen = await eventually(
        lambda: timeline.try_json(f"/v1/accounts/{account['id']}"),
        lambda a: bool(a) and a["status"][0]["state"] == "failing",
    )
    assert seen["status"][0]["remedy"] == "Update the password of this account"
    assert seen["status"][1] == {**seen["status"][1], "kind": "calendar", "state": "pending"}
    stored = await timeline.directory.account(account["id"])
    assert isinstance(stored, AccountConfigured)
    assert stored.mail.visibility == "metadata"


async def test_only_the_owner_changes_an_account_and_disconnecting_stops_it(
    timeline: Timeline, unique: str
) -> None:
    ws, user = f"ws-{unique}", f"e-{unique}@acme.test"
    _, owner_key = await timeline.key_for(ws, user, Role.MEMBER)
    _, other_key = await timeline.key_for(ws, f"f-{unique}@acme.test", Role.MEMBER)
    owner = {"Authorization": f"Bearer {owner_key}"}
    other = {"Authorization": f"Bearer {other_key}"}
    created = await timeline.client.post("/v1/accounts", json=_body(user), headers=owner)
    account_id = created.json()["id"]

    seen_by_other = await timeline.client.get(f"/v1/accounts/{account_id}", headers=other)
    refused = await timeline.client.patch(
        f"/v1/accounts/{account_id}", json={"mail": {"visibility": "full"}}, headers=other
    )
    not_theirs = await timeline.client.delete(f"/v1/accounts/{account_id}", headers=other)
    gone = await timeline.client.delete(f"/v1/accounts/{account_id}", headers=owner)

    assert seen_by_other.status_code == 200
    assert (refused.status_code, not_theirs.status_code, gone.status_code) == (403, 403, 204)
    assert (
        await timeline.client.get(f"/v1/accounts/{account_id}", headers=owner)
    ).status_code == 404
    stored = await timeline.directory.account(account_id)
    assert stored is not None
    assert stored.disconnected
    assert stored.imap is None
    assert stored.caldav is None


async def test_disconnecting_removes_only_what_that_account_alone_brought(
    timeline: Timeline, unique: str
) -> None:
    ws, topics = f"ws-{unique}", timeline.settings.topics
    member = await timeline.login(ws, "me@us.test")
    for account_id in ("acc-a", "acc-b"):
        await timeline.directory.save_account(
            AccountConfigured(
                account_id=account_id,
                workspace_id=ws,
                owner_member_id=member.member_id,
                email=f"{account_id}@us.test",
            )
        )
    ann = person(ws, "Ann", "ann@client.test")
    only_a = mail(ws, "only-a@x", subject="Only A", account="acc-a")
    reply_a = mail(ws, "reply-a@x", root="shared@x", minutes=5, subject="Re", account="acc-a")
    shared = [mail(ws, "shared@x", subject="Shared", account=a) for a in ("acc-a", "acc-b")]
    for event in (only_a, reply_a, *shared):
        await timeline.publish(topics.timeline_messages, event.thread_id, event)
    await timeline.publish(topics.records, ann.person_id, ann)
    path = f"/v1/people/{ann.person_id}/threads"
    await eventually(
        lambda: timeline.try_json(path),
        lambda p: sorted(t["message_count"] for t in p.get("items", [])) == [1, 2],
    )

    gone = await timeline.client.delete("/v1/accounts/acc-a")

    assert gone.status_code == 204
    after = await eventually(
        lambda: timeline.try_json(path),
        lambda p: [t["message_count"] for t in p.get("items", [])] == [1],
    )
    [thread] = after["items"]
    assert (thread["subject"], thread["message_count"]) == ("Shared", 1)
    detail = await timeline.get_json(f"/v1/threads/{thread['id']}")
    assert [m["message_id"] for m in detail["messages"]] == ["shared@x"]
    db = timeline.mongo[timeline.settings.mongo_db]
    stored = await db.messages.find_one({"message_id": "shared@x"})
    assert stored is not None
    assert list(stored["sources"]) == ["acc-b"]
    assert await db.threads.find_one({"_id": only_a.thread_id}) is None
