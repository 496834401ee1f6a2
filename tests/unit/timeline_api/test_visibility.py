"""What another member of the workspace sees of a message, a thread and a meeting."""

from crm_schemas.config import CalendarVisibility, MailVisibility
from tests.unit.timeline_api.factories import T0, event, message, source
from timeline_api.domain.threads import summarise_thread
from timeline_api.domain.visibility import (
    mail_visibility,
    redact_event,
    redact_message,
    redact_thread,
    redact_thread_detail,
    visible_fields,
)

NOT_THE_OWNER = None


def test_metadata_shows_participants_and_date_only() -> None:
    seen = redact_message(message("m1", sources=(source("metadata"),)), NOT_THE_OWNER)

    assert seen.subject is None
    assert seen.body_text is None
    assert seen.message_id is None
    assert seen.sent_at == T0
    assert seen.participants[0].email == "ann@client.test"
    assert seen.visibility == "metadata"


def test_subject_adds_the_subject_but_not_the_body() -> None:
    seen = redact_message(message("m1", sources=(source("subject"),)), NOT_THE_OWNER)

    assert seen.subject == "Pricing"
    assert seen.body_text is None


def test_full_shows_the_body_and_attachments() -> None:
    seen = redact_message(message("m1", sources=(source("full"),)), NOT_THE_OWNER)

    assert seen.subject == "Pricing"
    assert seen.body_text == "Hello, here is the price."


def test_the_owner_always_sees_everything() -> None:
    stored = message("m1", sources=(source("metadata", owner="member-a"),))

    seen = redact_message(stored, "member-a")

    assert seen.subject == "Pricing"
    assert seen.body_text == "Hello, here is the price."
    assert seen.visibility == "full"


def test_a_message_in_two_mailboxes_is_shared_as_the_most_generous_one_shares_it() -> None:
    sources = (source("metadata", "member-a", "acc-a"), source("subject", "member-b", "acc-b"))

    assert mail_visibility(sources, NOT_THE_OWNER) is MailVisibility.SUBJECT


def test_an_unknown_visibility_shares_the_least() -> None:
    assert mail_visibility((source("everyone!"),), NOT_THE_OWNER) is MailVisibility.METADATA


def test_visible_fields_per_level() -> None:
    assert "subject" not in visible_fields(MailVisibility.METADATA)
    assert "subject" in visible_fields(MailVisibility.SUBJECT)
    assert "body_text" not in visible_fields(MailVisibility.SUBJECT)
    assert {"body_text", "attachments"} <= visible_fields(MailVisibility.FULL)
    assert "title" not in visible_fields(CalendarVisibility.METADATA)
    assert {"title", "description", "location"} <= visible_fields(CalendarVisibility.EVERYTHING)


def test_a_thread_row_hides_the_subject_of_a_metadata_mailbox() -> None:
    thread = summarise_thread("thread-1", [message("m1", sources=(source("metadata"),))])

    row = redact_thread(thread, NOT_THE_OWNER)

    assert row.subject is None
    assert row.message_count == 1
    assert row.participants


def test_a_thread_detail_lists_messages_oldest_first_each_redacted_on_its_own() -> None:
    first = message("m1", minutes=0, sources=(source("full"),))
    reply = message("m2", minutes=10, subject="Re: Pricing", sources=(source("metadata"),))
    thread = summarise_thread("thread-1", [reply, first])

    detail = redact_thread_detail(thread, [reply, first], NOT_THE_OWNER)

    assert [m.id for m in detail.messages] == ["m1", "m2"]
    assert detail.messages[0].body_text is not None
    assert detail.messages[1].subject is None


def test_calendar_metadata_shows_times_and_participants_only() -> None:
    seen = redact_event(event("metadata"), NOT_THE_OWNER)

    assert (seen.title, seen.description, seen.location) == (None, None, None)
    assert seen.duration_minutes == 60
    assert seen.participants


def test_calendar_everything_shows_the_title() -> None:
    seen = redact_event(event("everything"), NOT_THE_OWNER)

    assert seen.title == "Quarterly review"
    assert seen.location == "Room 4"


def test_the_calendar_owner_sees_the_title_of_a_metadata_calendar() -> None:
    assert redact_event(event("metadata", owner="member-a"), "member-a").title == "Quarterly review"
