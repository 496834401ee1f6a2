"""The matcher's rules, read like the spec: what is synced and what never is."""

import pytest

from crm_schemas.base import Address
from crm_schemas.calendar import Attendee
from crm_schemas.config import AccountConfigured, MailSettings
from crm_schemas.mail import FolderRole, ParticipantRole
from crm_schemas.outcomes import DropReason
from matcher.rules.blocklist import blocked_address
from matcher.rules.decide import (
    Dropped,
    Kept,
    decide_event,
    decide_message,
    from_disconnected_account,
)
from matcher.rules.group_mail import group_mail_signal
from matcher.rules.internal import is_internal, is_internal_address
from matcher.rules.participants import message_participants
from tests.unit.matcher.builders import OWN, OWNER, event, message


def test_a_message_with_one_external_participant_is_synced() -> None:
    decision = decide_message(message(), OWN, MailSettings(), OWNER)
    assert isinstance(decision, Kept)
    assert {p.email for p in decision.participants} == {"jane@client.test", "alice@acme.test"}
    assert decision.sent_by_owner is False


def test_a_message_between_colleagues_only_is_dropped_as_internal() -> None:
    decision = decide_message(
        message(**{"from": (Address(email="bob@acme.test"),)}), OWN, MailSettings(), OWNER
    )
    assert isinstance(decision, Dropped)
    assert decision.reason is DropReason.INTERNAL
    assert decision.rule == "is_internal"


def test_a_thread_mixing_colleagues_and_a_client_is_external() -> None:
    assert not is_internal(["bob@acme.test", "jane@client.test"], OWN)


def test_subdomains_of_own_domains_are_internal_but_lookalikes_are_not() -> None:
    assert is_internal_address("bob@eu.acme.test", OWN)
    assert not is_internal_address("bob@notacme.test", OWN)
    assert is_internal_address("BOB@ACME.TEST", OWN)


def test_a_message_sent_by_the_owner_is_marked_as_sent() -> None:
    sent = message(
        **{"from": (Address(email="alice@acme.test"),), "to": (Address(email="jane@client.test"),)}
    )
    decision = decide_message(sent, OWN, MailSettings(), OWNER)
    assert isinstance(decision, Kept)
    assert decision.sent_by_owner is True


@pytest.mark.parametrize("role", [FolderRole.JUNK, FolderRole.TRASH, FolderRole.DRAFTS])
def test_spam_trash_and_drafts_are_never_synced(role: FolderRole) -> None:
    decision = decide_message(message(folder_role=role), OWN, MailSettings(), OWNER)
    assert isinstance(decision, Dropped)
    assert decision.reason is DropReason.EXCLUDED_FOLDER


def test_a_folder_the_owner_excluded_is_never_synced() -> None:
    settings = MailSettings(exclude_folders=("Personal",))
    decision = decide_message(
        message(folder="personal", folder_role=FolderRole.OTHER), OWN, settings, OWNER
    )
    assert isinstance(decision, Dropped)
    assert decision.detail == "personal"


def test_a_blocked_domain_also_blocks_its_subdomains() -> None:
    assert blocked_address(["x@mail.client.test"], ["client.test"]) == "x@mail.client.test"
    assert blocked_address(["x@client.test"], ["@client.test"]) == "x@client.test"
    assert blocked_address(["x@otherclient.test"], ["client.test"]) is None


def test_a_blocked_address_drops_the_message() -> None:
    settings = MailSettings(blocklist=("Jane@Client.test",))
    decision = decide_message(message(), OWN, settings, OWNER)
    assert isinstance(decision, Dropped)
    assert decision.reason is DropReason.BLOCKED


@pytest.mark.parametrize(
    ("headers", "content_type", "signal"),
    [
        ({"list-id": "<news.client.test>"}, "text/plain", "List-Id"),
        ({"list-unsubscribe": "<mailto:u@x>"}, "text/plain", "List-Unsubscribe"),
        ({"precedence": "Bulk"}, "text/plain", "Precedence"),
        ({"auto-submitted": "auto-replied"}, "text/plain", "Auto-Submitted"),
        ({"return-path": "<>"}, "text/plain", "Return-Path"),
        ({}, "multipart/report; report-type=delivery-status", "multipart/report"),
    ],
)
def test_group_and_robot_mail_is_recognised_by_its_headers(
    headers: dict[str, str], content_type: str, signal: str
) -> None:
    assert group_mail_signal(headers, content_type) == signal


def test_auto_submitted_no_is_a_person_writing() -> None:
    assert group_mail_signal({"auto-submitted": "no"}, "text/plain") is None


def test_group_mail_is_dropped_with_its_reason() -> None:
    decision = decide_message(message(headers={"list-id": "x"}), OWN, MailSettings(), OWNER)
    assert isinstance(decision, Dropped)
    assert decision.reason is DropReason.GROUP_MAIL


def test_an_address_in_several_headers_is_one_participant_with_every_role() -> None:
    msg = message(
        to=(Address(email="Jane@Client.test"),),
        cc=(Address(email="bob@acme.test"),),
    )
    seen = {p.email: p.roles for p in message_participants(msg)}
    assert seen["jane@client.test"] == (ParticipantRole.FROM, ParticipantRole.TO)
    assert seen["bob@acme.test"] == (ParticipantRole.CC,)


def test_a_meeting_with_a_client_is_synced_with_responses() -> None:
    decision = decide_event(event(), OWN, ())
    assert isinstance(decision, Kept)
    responses = {p.email: p.response for p in decision.participants}
    assert responses["jane@client.test"] == "ACCEPTED"


def test_a_meeting_between_colleagues_is_dropped_as_internal() -> None:
    internal = event(attendees=(Attendee(email="bob@acme.test"),))
    decision = decide_event(internal, OWN, ())
    assert isinstance(decision, Dropped)
    assert decision.reason is DropReason.INTERNAL


def test_a_meeting_without_anyone_is_dropped_for_having_no_participants() -> None:
    decision = decide_event(event(organizer=None, attendees=()), OWN, ())
    assert isinstance(decision, Dropped)
    assert decision.reason is DropReason.NO_PARTICIPANTS


def test_nothing_of_a_disconnected_account_is_synced_not_even_what_was_in_flight() -> None:
    connected = AccountConfigured(
        account_id="a1", workspace_id="w", owner_member_id="m", email="me@us.test"
    )
    gone = connected.model_copy(update={"disconnected": True})

    assert from_disconnected_account(connected) is None
    dropped = from_disconnected_account(gone)
    assert dropped is not None
    assert (dropped.reason, dropped.rule) == (DropReason.ACCOUNT_DISCONNECTED, "is_connected")
