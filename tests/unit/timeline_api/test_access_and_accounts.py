"""The pure rules behind keys and account settings (server addresses: tests/unit/runtime/
test_egress.py)."""

import pytest

from crm_schemas.config import (
    AccountConfigured,
    CalDavConnection,
    CalendarSettings,
    ImapConnection,
    MailSettings,
    MailVisibility,
)
from crm_schemas.sync import SyncKind
from timeline_api.api.account_models import status_views
from timeline_api.domain.access import (
    KEY_PREFIX,
    Role,
    bearer_key,
    key_digest,
    member_for,
    member_id_for,
    new_api_key,
)
from timeline_api.domain.connection import Failure, failed, listed_folder
from timeline_api.service.account_requests import CalendarSettingsIn, MailSettingsIn
from timeline_api.service.accounts import apply_calendar, apply_mail


def test_a_new_key_is_long_random_and_only_its_digest_is_stored() -> None:
    first, second = new_api_key(), new_api_key()
    assert first != second
    assert first.startswith(KEY_PREFIX)
    assert len(first) > 40
    assert key_digest(first) != first
    assert key_digest(first) == key_digest(first)
    assert len(key_digest(first)) == 64


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Bearer crm_abc", "crm_abc"),
        ("bearer   crm_abc ", "crm_abc"),
        ("Basic crm_abc", None),
        ("Bearer abc", None),
        ("crm_abc", None),
        ("", None),
        (None, None),
        ("Bearer crm_" + "x" * 300, None),
    ],
)
def test_only_a_bearer_key_of_ours_is_read_from_the_header(
    header: str | None, key: str | None
) -> None:
    assert bearer_key(header) == key


def test_a_member_is_one_per_address_and_workspace_and_named_by_it_when_unnamed() -> None:
    member = member_for("ws1", "Ann@Acme.TEST", None, Role.MEMBER)
    assert member.email == "ann@acme.test"
    assert member.name == "ann@acme.test"
    assert member.member_id == member_id_for("ws1", "ann@acme.test")
    assert member.member_id != member_id_for("ws2", "ann@acme.test")
    assert not member.is_admin


def test_a_failure_is_said_in_words_naming_the_host() -> None:
    check = failed("IMAP", Failure.DNS, "imap.nowhere.test", "Name or service not known")
    assert not check.ok
    assert check.message == "Cannot resolve host imap.nowhere.test: check the server name"


def test_a_settings_change_replaces_only_what_it_names() -> None:
    current = MailSettings(exclude_folders=("Personal",), blocklist=("a@b.test",))
    changed = apply_mail(
        current, MailSettingsIn(visibility=MailVisibility.FULL, blocklist=["X.test", "x.test"])
    )
    assert changed.visibility is MailVisibility.FULL
    assert changed.blocklist == ("x.test",)
    assert changed.exclude_folders == ("Personal",)
    assert changed.contact_creation == current.contact_creation
    calendar = apply_calendar(CalendarSettings(), CalendarSettingsIn(contact_creation=False))
    assert calendar.contact_creation is False
    assert calendar.visibility == CalendarSettings().visibility


def _account(**connections: object) -> AccountConfigured:
    return AccountConfigured(
        account_id="a1", workspace_id="w", owner_member_id="m", email="me@x.test", **connections
    )


def test_nothing_looks_synced_before_a_sync_reports() -> None:
    imap = ImapConnection(host="h", port=993, username="u", password_encrypted="s")
    caldav = CalDavConnection(url="http://h/", username="u", password_encrypted="s")
    both = _account(imap=imap, caldav=caldav)

    pending = status_views(both, {})
    reported = status_views(both, {SyncKind.MAIL: {"state": "importing", "done": 5, "total": 9}})

    assert [(s.kind, s.state) for s in pending] == [
        (SyncKind.MAIL, "pending"),
        (SyncKind.CALENDAR, "pending"),
    ]
    assert (reported[0].state, reported[0].done, reported[0].total) == ("importing", 5, 9)
    assert [s.kind for s in status_views(_account(caldav=caldav), {})] == [SyncKind.CALENDAR]


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ('(\\HasNoChildren) "/" INBOX', "INBOX"),
        ('(\\HasNoChildren \\Sent) "/" "Sent"', "Sent"),
        ('(\\HasChildren) "." "Projects.Client \\"A\\""', 'Projects.Client "A"'),
        ('(\\HasNoChildren) "/" "Entw&APw-rfe"', "Entwürfe"),
        ('(\\HasNoChildren) "/" "R&AOk-sum&AOk- & co"', "Résumé & co"),
        ('(\\Noselect) NIL "Shared"', "Shared"),
        ("not a list line", None),
    ],
)
def test_folder_names_are_read_from_list_lines_in_unicode(line: str, name: str | None) -> None:
    assert listed_folder(line) == name
