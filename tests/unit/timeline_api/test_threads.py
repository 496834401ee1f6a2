"""A thread's timeline row, summarised from its messages."""

from datetime import timedelta

import pytest

from crm_schemas.mail import ParticipantRole
from tests.unit.timeline_api.factories import T0, message, participant
from timeline_api.domain.threads import EmptyThreadError, summarise_thread

FROM, TO, CC = ParticipantRole.FROM, ParticipantRole.TO, ParticipantRole.CC


def test_a_thread_is_named_after_its_first_message_and_dated_by_its_last() -> None:
    messages = [
        message("m2", minutes=30, subject="Re: Pricing"),
        message("m1", minutes=0, subject="Pricing"),
        message("m3", minutes=90, subject="Re: Pricing"),
    ]

    summary = summarise_thread("thread-1", messages)

    assert summary.subject == "Pricing"
    assert summary.first_activity == T0
    assert summary.last_activity == T0 + timedelta(minutes=90)
    assert summary.message_count == 3


def test_a_thread_without_a_first_subject_takes_the_next_one() -> None:
    summary = summarise_thread(
        "thread-1", [message("m1", subject=None), message("m2", 5, subject="Re: hello")]
    )

    assert summary.subject == "Re: hello"


def test_participants_are_merged_by_address_with_all_their_roles() -> None:
    first = message(
        "m1",
        participants=(participant("Ann@Client.test", FROM), participant("bob@client.test", TO)),
    )
    reply = message(
        "m2",
        minutes=5,
        participants=(
            participant("ann@client.test", TO, person_id="p-ann", company_domain="client.test"),
            participant("carl@other.test", CC),
        ),
    )

    summary = summarise_thread("thread-1", [first, reply])

    assert summary.participant_emails == ("ann@client.test", "bob@client.test", "carl@other.test")
    ann = summary.participants[0]
    assert ann.roles == (FROM, TO)
    assert ann.person_id == "p-ann"
    assert summary.company_domains == ("client.test",)


def test_internal_participants_bring_no_company_domain() -> None:
    summary = summarise_thread(
        "thread-1",
        [
            message(
                "m1",
                participants=(
                    participant("me@us.test", FROM, internal=True, company_domain="us.test"),
                    participant("ann@client.test", TO, company_domain="client.test"),
                ),
            )
        ],
    )

    assert summary.company_domains == ("client.test",)


def test_a_thread_with_no_messages_cannot_be_summarised() -> None:
    with pytest.raises(EmptyThreadError):
        summarise_thread("thread-1", [])
