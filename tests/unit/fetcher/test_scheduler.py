"""Which jobs the scheduler queues, and the command line."""

import pytest

from crm_schemas.config import (
    AccountConfigured,
    CalDavConnection,
    ImapConnection,
    OAuthConnection,
    OAuthProvider,
)
from crm_schemas.sync import SyncKind
from fetcher.__main__ import _parser
from fetcher.scheduler import scheduled_requests

IMAP = ImapConnection(host="h", port=993, username="u", password_encrypted="x")
CALDAV = CalDavConnection(url="https://dav.test/", username="u", password_encrypted="x")


def account(account_id: str, **fields: object) -> AccountConfigured:
    return AccountConfigured(
        account_id=account_id,
        workspace_id="ws",
        owner_member_id="m",
        email=f"{account_id}@acme.test",
        **fields,  # type: ignore[arg-type]
    )


def test_a_google_or_microsoft_account_gets_a_mail_and_a_calendar_job():
    oauth = OAuthConnection(provider=OAuthProvider.GOOGLE, refresh_token_encrypted="x")
    requests = scheduled_requests([account("google", oauth=oauth)])
    assert [(r.account_id, r.kind) for r in requests] == [
        ("google", SyncKind.MAIL),
        ("google", SyncKind.CALENDAR),
    ]


def test_each_connected_account_gets_a_job_per_protocol_it_has():
    requests = scheduled_requests(
        [
            account("both", imap=IMAP, caldav=CALDAV),
            account("mail", imap=IMAP),
            account("cal", caldav=CALDAV),
            account("none"),
        ]
    )
    assert [(r.account_id, r.kind) for r in requests] == [
        ("both", SyncKind.MAIL),
        ("both", SyncKind.CALENDAR),
        ("mail", SyncKind.MAIL),
        ("cal", SyncKind.CALENDAR),
    ]
    assert {r.reason for r in requests} == {"schedule"}


def test_a_disconnected_account_gets_no_job():
    assert scheduled_requests([account("gone", imap=IMAP, disconnected=True)]) == []


def test_the_default_command_is_the_worker():
    assert _parser().parse_args([]).command is None


def test_sync_now_needs_an_account():
    args = _parser().parse_args(["sync-now", "--account", "a1", "--kind", "calendar"])
    assert (args.command, args.account, args.kind) == ("sync-now", "a1", "calendar")
    with pytest.raises(SystemExit):
        _parser().parse_args(["sync-now"])
