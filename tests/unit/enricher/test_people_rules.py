"""The enricher's rules for issue 5: names, personal domains with overrides, who may become
a person (role, robot and blocked addresses, the owner's aliases)."""

import pytest

from crm_schemas.mail import Participant, ParticipantRole
from enricher.rules.companies import company_domain, personal_domains, workspace_personal_domains
from enricher.rules.creation import (
    is_blocked,
    is_role_address,
    may_become_person,
    role_local_parts,
)
from enricher.rules.names import decode_encoded_words, person_name_from_header


@pytest.mark.parametrize(
    ("display", "email", "expected"),
    [
        ("=?utf-8?q?Jos=C3=A9_Garc=C3=ADa?=", "jose@client.test", "José García"),
        ("=?ISO-8859-1?B?SvxyZ2VuIE38bGxlcg==?=", "jm@client.test", "Jürgen Müller"),
        ('"Doe, Jane"', "jane@client.test", "Jane Doe"),
        ("'Jane Doe'", "jane@client.test", "Jane Doe"),
        ("Jane Doe via Calendly", "notifications@calendly.test", "Jane Doe"),
        ("JANE DOE", "jane@client.test", "Jane Doe"),
        ("IBM", "x@ibm.test", "IBM"),
        ("'jane.doe@client.test'", "jane.doe@client.test", "Jane Doe"),
        ("   ", "jane_doe@client.test", "Jane Doe"),
        (None, "jane.doe+news@client.test", "Jane Doe"),
        (None, "jdoe42@client.test", "Jdoe"),
    ],
)
def test_a_persons_name_comes_from_any_kind_of_display_name(
    display: str | None, email: str, expected: str
) -> None:
    assert person_name_from_header(display, email) == expected


def test_a_broken_encoded_word_is_kept_as_it_is() -> None:
    assert decode_encoded_words("=?bogus-charset?q?x?=") == "=?bogus-charset?q?x?="
    assert decode_encoded_words("plain") == "plain"


def test_free_and_disposable_providers_come_from_maintained_lists() -> None:
    providers = personal_domains()
    assert {"gmail.com", "outlook.com", "yahoo.com"} <= providers
    assert "mailinator.com" in providers  # disposable
    assert len(providers) > 1000


def test_a_workspace_can_add_and_remove_personal_domains() -> None:
    personal = workspace_personal_domains(add=["Freemail.Test"], remove=["gmail.com"])
    assert company_domain("ann@freemail.test", personal=personal) is None
    assert company_domain("ann@gmail.com", personal=personal) == "gmail.com"
    assert workspace_personal_domains() is personal_domains()


def test_a_personal_subdomain_never_makes_a_company() -> None:
    assert company_domain("ann@mail.gmail.com") is None


def test_a_company_domain_is_registrable_for_every_kind_of_suffix() -> None:
    assert company_domain("jane@eu.mail.acme-corp.co.uk") == "acme-corp.co.uk"
    assert company_domain("jane@client.com.au") == "client.com.au"
    assert company_domain("jane@localhost") is None


@pytest.mark.parametrize(
    "email",
    [
        "support@client.test",
        "Sales+EU@client.test",
        "info@client.test",
        "no-reply@client.test",
        "noreply-1234@client.test",
        "do_not_reply@client.test",
        "bounces+abc@client.test",
        "mailer-daemon@client.test",
    ],
)
def test_role_and_robot_addresses_never_become_people(email: str) -> None:
    assert is_role_address(email)
    participant = Participant(email=email, roles=(ParticipantRole.CC,), internal=False)
    assert not may_become_person(participant, frozenset())


def test_a_person_whose_name_starts_like_a_role_is_still_a_person() -> None:
    assert not is_role_address("salesforce.jane@client.test")
    assert not is_role_address("jane.support@client.test")
    assert not is_role_address("jane@support.test")


def test_a_workspace_can_add_and_remove_role_local_parts() -> None:
    roles = role_local_parts(add=["Deals"], remove=["hello"])
    assert is_role_address("deals@client.test", roles)
    assert not is_role_address("hello@client.test", roles)


@pytest.mark.parametrize(
    ("email", "blocked"),
    [
        ("spam@client.test", True),
        ("SPAM@client.test", True),
        ("ann@blocked.test", True),
        ("ann@eu.blocked.test", True),
        ("ann@notblocked.test", False),
        ("ann@client.test", False),
    ],
)
def test_blocked_addresses_and_domains_never_become_people(email: str, blocked: bool) -> None:
    blocklist = ("spam@client.test", "@blocked.test")
    assert is_blocked(email, blocklist) is blocked
    participant = Participant(email=email, roles=(ParticipantRole.TO,), internal=False)
    assert may_become_person(participant, frozenset(), blocklist=blocklist) is not blocked


def test_the_owners_aliases_never_become_people() -> None:
    owner = frozenset({"alice@acme.test", "alice@acme-alias.test"})
    alias = Participant(email="Alice@Acme-Alias.test", roles=(ParticipantRole.TO,), internal=False)
    assert not may_become_person(alias, owner)
