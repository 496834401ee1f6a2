"""A message or meeting that cannot be read or cannot travel becomes a drop, not a failure."""

from datetime import UTC, datetime

import pytest

from crm_schemas.calendar import RawEvent
from crm_schemas.ids import event_item_id, message_item_id
from crm_schemas.mail import FolderRole, RawMessage
from crm_schemas.outcomes import DropReason, ItemDropped
from fetcher.domain import unreadable
from fetcher.domain.mime import MessageSource
from fetcher.domain.model import FetchedMessage
from fetcher.domain.unreadable import (
    MAX_RECORD_BYTES,
    checked_event,
    checked_message,
    read_message,
    unrepresentable,
)

SOURCE = MessageSource("w1", "a1", "INBOX", FolderRole.INBOX, 7)
WHEN = datetime(2024, 3, 5, tzinfo=UTC)


def message(**fields: object) -> RawMessage:
    return RawMessage(
        item_id=message_item_id("w1", "m@x"),
        workspace_id="w1",
        account_id="a1",
        provider="imap",
        provider_ref="INBOX/7/1",
        folder="INBOX",
        folder_role=FolderRole.INBOX,
        message_id="m@x",
        sent_at=WHEN,
        **fields,  # type: ignore[arg-type]
    )


def test_a_message_that_can_travel_is_itself():
    ordinary = message(subject="Café crème 💐")
    assert unrepresentable(ordinary) is None
    assert checked_message(ordinary) is ordinary


def test_text_no_utf8_can_carry_makes_the_message_an_unreadable_drop():
    dropped = checked_message(message(subject="Caf\udce9"))
    assert isinstance(dropped, ItemDropped)
    assert (dropped.reason, dropped.rule) == (DropReason.UNREADABLE, "is_representable")
    assert (dropped.item_id, dropped.natural_id, dropped.kind) == (
        message_item_id("w1", "m@x"),
        "m@x",
        "message",
    )
    assert "Caf" not in dropped.detail  # what was wrong, never the content


def test_a_message_too_large_for_a_kafka_record_is_an_unreadable_drop():
    dropped = checked_message(message(body_text="b" * MAX_RECORD_BYTES))
    assert isinstance(dropped, ItemDropped)
    assert "over the limit of 900,000" in dropped.detail


def test_a_meeting_that_cannot_travel_is_an_unreadable_drop_of_its_uid():
    event = RawEvent(
        item_id=event_item_id("w1", "uid-1", "20240305T100000Z"),
        workspace_id="w1",
        account_id="a1",
        provider="google",
        calendar="primary",
        ical_uid="uid-1",
        recurrence_id="20240305T100000Z",
        title="Kick-off \ud83d",
        starts_at=WHEN,
        ends_at=WHEN,
    )
    dropped = checked_event(event)
    assert isinstance(dropped, ItemDropped)
    assert (dropped.kind, dropped.natural_id) == ("event", "uid-1")
    assert dropped.item_id == event_item_id("w1", "uid-1", None)


def test_a_message_the_parser_fails_on_is_an_unreadable_drop_under_its_own_id(
    monkeypatch: pytest.MonkeyPatch,
):
    def fails(fetched: FetchedMessage, source: MessageSource) -> RawMessage:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(unreadable, "raw_message", fails)
    header = b"From: a@client.test\r\nMessage-ID: <deep@client.test>\r\n\r\n"

    dropped = read_message(FetchedMessage(3, header), SOURCE)

    assert isinstance(dropped, ItemDropped)
    assert dropped.natural_id == "deep@client.test"
    assert dropped.item_id == message_item_id("w1", "deep@client.test")
    assert dropped.detail == "the message could not be parsed (RecursionError)"
