"""The enricher's rules: names, company domains, and who may become a person."""

import pytest

from crm_schemas.config import ContactCreation
from crm_schemas.mail import Participant, ParticipantRole
from enricher.rules.companies import company_domain, company_name_from_domain, registrable_domain
from enricher.rules.creation import creates_people_from_message, may_become_person
from enricher.rules.names import name_from_local_part, name_in_header, person_name_from_header


@pytest.mark.parametrize(
    ("display", "email", "expected"),
    [
        ("Jane Doe", "jane@client.test", "Jane Doe"),
        ("Doe, Jane", "jane@client.test", "Jane Doe"),
        ('"Jane Doe"', "jane@client.test", "Jane Doe"),
        ("Jane Doe via Calendly", "x@calendly.test", "Jane Doe"),
        ("JANE DOE", "jane@client.test", "Jane Doe"),
        ("jane@client.test", "jane.doe@client.test", "Jane Doe"),
        (None, "jane_doe@client.test", "Jane Doe"),
        ("", "jdoe42@client.test", "Jdoe"),
    ],
)
def test_a_new_persons_name_comes_from_the_header_else_the_address(
    display: str | None, email: str, expected: str
) -> None:
    assert person_name_from_header(display, email) == expected


@pytest.mark.parametrize("display", [None, "", "  ", '""', "jane@client.test"])
def test_a_display_name_without_a_name_in_it_gives_none(display: str | None) -> None:
    assert name_in_header(display) == ""


def test_a_local_part_made_only_of_digits_is_kept_as_is() -> None:
    assert name_from_local_part("12345@client.test") == "12345"


def test_the_company_domain_is_the_registrable_domain() -> None:
    assert registrable_domain("mail.eu.acme.co.uk") == "acme.co.uk"
    assert company_domain("jane@mail.eu.acme.co.uk") == "acme.co.uk"


@pytest.mark.parametrize("email", ["jane@gmail.com", "jane@outlook.com", "jane@yahoo.com"])
def test_personal_providers_never_make_a_company(email: str) -> None:
    assert company_domain(email) is None


def test_the_workspaces_own_domain_never_makes_a_company() -> None:
    assert company_domain("bob@acme.test", own_domains=frozenset({"acme.test"})) is None


def test_a_company_is_named_from_its_domain() -> None:
    assert company_name_from_domain("acme-corp.co.uk") == "Acme Corp"
    assert company_name_from_domain("client.test") == "Client"


@pytest.mark.parametrize(
    ("policy", "sent_by_owner", "creates"),
    [
        (ContactCreation.NONE, True, False),
        (ContactCreation.SENT_ONLY, True, True),
        (ContactCreation.SENT_ONLY, False, False),
        (ContactCreation.SENT_AND_RECEIVED, False, True),
    ],
)
def test_auto_creation_follows_the_mailbox_setting(
    policy: ContactCreation, sent_by_owner: bool, creates: bool
) -> None:
    assert creates_people_from_message(policy, sent_by_owner) is creates


def test_colleagues_and_the_owner_never_become_people() -> None:
    owner = frozenset({"alice@acme.test"})

    def participant(email: str, internal: bool) -> Participant:
        return Participant(email=email, roles=(ParticipantRole.TO,), internal=internal)

    assert may_become_person(participant("jane@client.test", False), owner)
    assert not may_become_person(participant("bob@acme.test", True), owner)
    assert not may_become_person(participant("alice@acme.test", False), owner)


def test_a_tld_missing_from_the_suffix_list_is_its_own_public_suffix() -> None:
    assert registrable_domain("mail.client.test") == "client.test"
    assert company_domain("jane@mail.client.test") == "client.test"
    assert registrable_domain("localhost") is None


def test_only_an_auto_created_name_made_from_the_address_is_replaced() -> None:
    from crm_schemas.records import PersonUpserted
    from enricher.rules.names import better_name

    auto = PersonUpserted(
        person_id="p", workspace_id="w", name="Jane", emails=("jane@c.test",),
        name_from_address=True,
    )  # fmt: skip
    assert better_name(auto, "Doe, Jane") == "Jane Doe"
    assert better_name(auto, None) is None
    assert better_name(auto, "jane@c.test") is None
    assert better_name(auto.model_copy(update={"name_from_address": False}), "Jane Doe") is None
    assert better_name(auto.model_copy(update={"created_by": "api"}), "Jane Doe") is None
    assert better_name(auto.model_copy(update={"merged_into": "q"}), "Jane Doe") is None
