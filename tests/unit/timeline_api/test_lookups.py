"""What the member reads when explain asked their mailboxes about a message it never saw."""

from datetime import UTC, datetime, timedelta

from crm_schemas.lookups import MailboxPlace, MessageLookupAnswered
from crm_schemas.mail import FolderRole
from timeline_api.domain.lookups import (
    MailboxLookup,
    MailboxSearched,
    as_of,
    in_words,
    is_done,
    with_answer,
)

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
JUNK = MailboxPlace(
    folder="Junk", folder_role=FolderRole.JUNK, synced=False, not_synced_because="junk_trash_drafts"
)


def lookup(*mailboxes: MailboxSearched) -> MailboxLookup:
    return MailboxLookup(
        lookup_id="l1",
        workspace_id="ws",
        member_id="m1",
        message_id="x@y",
        started_at=T0,
        mailboxes=mailboxes,
    )


def mailbox(email: str, **answer: object) -> MailboxSearched:
    return MailboxSearched.model_validate({"account_id": f"acc-{email}", "email": email} | answer)


def test_a_message_in_junk_is_said_to_be_in_a_folder_the_account_does_not_sync() -> None:
    found = lookup(mailbox("alice@acme.test", state="found", places=(JUNK,)))
    assert in_words(found) == (
        "It is in Junk of alice@acme.test, which this account does not sync"
        " (spam, trash and drafts are never synced)."
    )


def test_a_message_nobody_has_is_in_no_connected_mailbox() -> None:
    nowhere = lookup(
        mailbox("a@acme.test", state="not_found"), mailbox("b@acme.test", state="not_found")
    )
    assert in_words(nowhere) == "It is not in any connected mailbox."


def test_a_mailbox_that_could_not_be_searched_says_why_beside_the_others() -> None:
    mixed = lookup(
        mailbox("a@acme.test", state="not_found"),
        mailbox("b@acme.test", state="failed", problem="The IMAP server refused the password"),
    )
    assert in_words(mixed) == (
        "It is not in a@acme.test."
        " b@acme.test could not be searched: The IMAP server refused the password."
    )


def test_a_search_is_done_when_every_mailbox_answered_or_the_time_ran_out() -> None:
    searching = lookup(mailbox("a@acme.test"), mailbox("b@acme.test"))
    answer = MessageLookupAnswered(
        lookup_id="l1",
        workspace_id="ws",
        account_id="acc-a@acme.test",
        message_id="x@y",
        state="not_found",
    )
    half = searching.model_copy(
        update={"mailboxes": (with_answer(searching.mailboxes[0], answer), searching.mailboxes[1])}
    )

    assert not is_done(half)
    assert not is_done(as_of(half, T0 + timedelta(seconds=5), timedelta(seconds=60)))
    late = as_of(half, T0 + timedelta(seconds=61), timedelta(seconds=60))
    assert is_done(late)
    assert in_words(late) == "It is not in a@acme.test. b@acme.test did not answer in time."
