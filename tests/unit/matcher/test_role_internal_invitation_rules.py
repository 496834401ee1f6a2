"""Role and robot addresses, personal providers, and invitations: what is never a message."""

import pytest

from crm_schemas.base import Address
from crm_schemas.config import MailSettings
from crm_schemas.outcomes import DropReason
from matcher.rules.decide import Dropped, Kept, decide_message
from matcher.rules.internal import is_free_mail_domain, is_internal
from matcher.rules.invitations import is_calendar_invitation
from matcher.rules.roles import is_no_reply, maintained_role_list, role_kind, role_list
from tests.unit.matcher.builders import OWN, OWNER, message


def test_the_role_list_is_the_maintained_package_with_its_version() -> None:
    roles = maintained_role_list()
    assert roles.version.startswith("npm:role-based-email-addresses@")
    assert {"sales", "support", "info", "noreply"} <= roles.local_parts
    assert len(roles.local_parts) > 500


@pytest.mark.parametrize(
    "email",
    [
        "noreply@shop.test",
        "no-reply@shop.test",
        "no_reply@shop.test",
        "do-not-reply@shop.test",
        "DoNotReply@shop.test",
        "alerts-noreply@shop.test",
        "noreply+abc123@shop.test",
        "no.reply.billing@shop.test",
    ],
)
def test_no_reply_spellings_are_recognised(email: str) -> None:
    assert is_no_reply(email)
    assert role_kind(email, maintained_role_list()) == "no-reply"


@pytest.mark.parametrize("email", ["jane@client.test", "noreen@client.test", "replyer@x.test"])
def test_a_persons_address_is_not_a_role(email: str) -> None:
    assert role_kind(email, maintained_role_list()) is None


def test_a_role_address_with_a_sub_address_is_a_role() -> None:
    assert role_kind("Sales+EU@client.test", maintained_role_list()) == "role"


def test_a_workspace_can_add_and_remove_role_entries() -> None:
    roles = role_list(add=("concierge",), remove=("sales",))
    assert role_kind("concierge@client.test", roles) == "role"
    assert role_kind("sales@client.test", roles) is None
    assert role_kind("sales@client.test", maintained_role_list()) == "role"


def test_a_message_from_a_role_sender_is_group_mail() -> None:
    decision = decide_message(
        message(**{"from": (Address(email="support@vendor.test"),)}), OWN, MailSettings(), OWNER
    )
    assert isinstance(decision, Dropped)
    assert (decision.reason, decision.rule) == (DropReason.GROUP_MAIL, "role_address_signal")
    assert "support@vendor.test" in decision.detail


def test_a_message_from_a_no_reply_sender_is_group_mail() -> None:
    msg = message(**{"from": (Address(email="no-reply@accounts.shop.test"),)})
    decision = decide_message(msg, OWN, MailSettings(), OWNER)
    assert isinstance(decision, Dropped)
    assert decision.detail.startswith("no-reply sender")


def test_a_message_to_only_role_addresses_outside_is_group_mail() -> None:
    msg = message(
        **{"from": (Address(email="alice@acme.test"),), "to": (Address(email="info@vendor.test"),)}
    )
    decision = decide_message(msg, OWN, MailSettings(), OWNER)
    assert isinstance(decision, Dropped)
    assert decision.reason == DropReason.GROUP_MAIL


def test_a_message_to_a_person_and_a_role_address_is_synced() -> None:
    to = (Address(email="info@vendor.test"), Address(email="jane@vendor.test"))
    msg = message(**{"from": (Address(email="alice@acme.test"),), "to": to})
    assert isinstance(decide_message(msg, OWN, MailSettings(), OWNER), Kept)


def test_a_role_entry_removed_by_the_workspace_is_synced() -> None:
    msg = message(**{"from": (Address(email="sales@vendor.test"),)})
    roles = role_list(remove=("sales",))
    assert isinstance(decide_message(msg, OWN, MailSettings(), OWNER, roles), Kept)


def test_personal_provider_domains_come_from_the_maintained_list() -> None:
    assert is_free_mail_domain("gmail.com")
    assert is_free_mail_domain("Outlook.com")
    assert not is_free_mail_domain("acme.test")


def test_a_mailbox_on_a_personal_provider_never_makes_its_domain_internal() -> None:
    assert not is_internal(["alice@gmail.com", "stranger@gmail.com"], ("gmail.com",))
    msg = message(
        **{
            "from": (Address(email="stranger@gmail.com"),),
            "to": (Address(email="alice@gmail.com"),),
        }
    )
    assert isinstance(decide_message(msg, ("gmail.com", "acme.test"), MailSettings(), OWNER), Kept)


def test_the_organisations_own_domain_stays_internal_next_to_a_personal_one() -> None:
    assert is_internal(["bob@acme.test", "alice@acme.test"], ("gmail.com", "acme.test"))


def test_a_calendar_invitation_is_left_to_calendar_sync() -> None:
    msg = message(content_type="multipart/mixed", calendar_method="REQUEST")
    decision = decide_message(msg, OWN, MailSettings(), OWNER)
    assert isinstance(decision, Dropped)
    assert decision.reason == DropReason.CALENDAR_INVITATION
    assert (decision.rule, decision.detail) == ("is_calendar_invitation", "REQUEST")


def test_a_cancellation_is_left_to_calendar_sync_too() -> None:
    msg = message(
        content_type="text/calendar",
        headers={"content-type": 'text/calendar; charset="utf-8"; method=CANCEL'},
    )
    assert is_calendar_invitation(msg) == "CANCEL"


def test_a_reply_to_an_invitation_is_not_an_invitation() -> None:
    assert is_calendar_invitation(message(calendar_method="REPLY")) is None
    assert is_calendar_invitation(message()) is None


def test_an_internal_invitation_is_dropped_as_internal_first() -> None:
    msg = message(
        calendar_method="REQUEST",
        **{"from": (Address(email="bob@acme.test"),)},
    )
    decision = decide_message(msg, OWN, MailSettings(), OWNER)
    assert isinstance(decision, Dropped)
    assert decision.reason == DropReason.INTERNAL
