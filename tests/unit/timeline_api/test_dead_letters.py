"""Dead letters: whose they are, how they are counted, and what re-driving one does."""

import base64
import json
from datetime import UTC, datetime, timedelta

from crm_schemas.outcomes import DeadLetter
from timeline_api.adapters.memory_dead_letters import MemoryDeadLetters
from timeline_api.domain.dead_letters import (
    DeadLetterQuery,
    ErrorCount,
    count_errors,
    payload_bytes,
    stored_letter,
    workspace_of,
)
from timeline_api.service.dead_letters import DeadLetterDesk, DeadLetterProjection

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TOPICS = ("crm.mail.raw.v1", "crm.timeline.messages.v1")


def letter(
    offset: int, workspace: str | None = "ws-a", error: str = "KafkaConnectionError", **more: str
) -> DeadLetter:
    body = {"message": {"workspace_id": workspace, "item_id": f"i{offset}"}} if workspace else {}
    fields = {
        "source_topic": "crm.timeline.messages.v1",
        "partition": 1,
        "offset": offset,
        "key": f"thread-{offset}",
        "handler": "Projection.message",
        "error_type": error,
        "error": "Unable to bootstrap",
        "attempts": 5,
        "payload": json.dumps(body),
        "failed_at": T0 + timedelta(minutes=offset),
    }
    return DeadLetter.model_validate(fields | more)


class Sent:
    """A raw publisher that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.payloads: list[tuple[str, str | None, bytes]] = []

    async def __call__(self, topic: str, key: str | None, payload: bytes) -> None:
        self.payloads.append((topic, key, payload))


def test_a_dead_letter_belongs_to_the_workspace_its_payload_names() -> None:
    assert workspace_of('{"workspace_id": "ws-1", "item_id": "x"}', "utf-8") == "ws-1"
    assert workspace_of('{"message": {"workspace_id": "ws-2"}}', "utf-8") == "ws-2"
    assert workspace_of('{"event": {"workspace_id": "ws-3"}}', "utf-8") == "ws-3"
    assert workspace_of("not json", "utf-8") is None
    assert workspace_of('["ws-1"]', "utf-8") is None
    assert workspace_of(base64.b64encode(b"\xff").decode(), "base64") is None


def test_a_letter_is_kept_once_by_where_the_failed_message_was() -> None:
    kept = stored_letter(letter(7))
    assert kept.letter_id == "crm.timeline.messages.v1:1:7"
    assert kept.workspace_id == "ws-a"
    assert stored_letter(letter(7)).letter_id == kept.letter_id


def test_a_payload_that_was_not_utf8_goes_back_as_the_same_bytes() -> None:
    raw = b"\xff\xfe not utf-8"
    kept = stored_letter(
        letter(1, payload=base64.b64encode(raw).decode(), payload_encoding="base64")
    )
    assert payload_bytes(kept) == raw


def test_errors_are_counted_by_topic_and_type_the_most_frequent_first() -> None:
    counted = count_errors([("t1", "A"), ("t2", "B"), ("t2", "B"), ("t1", "A"), ("t1", "A")])
    assert counted == [ErrorCount("t1", "A", 3), ErrorCount("t2", "B", 2)]


async def test_a_retry_sends_each_payload_back_to_its_topic_under_its_key_once() -> None:
    letters, sent = MemoryDeadLetters(), Sent()
    await DeadLetterProjection(letters).record_all([letter(1), letter(2), letter(3, "ws-b")])
    desk = DeadLetterDesk(letters, sent, TOPICS, clock=lambda: T0)

    done = await desk.retry(DeadLetterQuery(workspace_id="ws-a"), "member:m1")
    again = await desk.retry(DeadLetterQuery(workspace_id="ws-a"), "member:m1")

    assert done.retried == ["crm.timeline.messages.v1:1:1", "crm.timeline.messages.v1:1:2"]
    assert [(t, k) for t, k, _ in sent.payloads] == [
        ("crm.timeline.messages.v1", "thread-1"),
        ("crm.timeline.messages.v1", "thread-2"),
    ]
    assert json.loads(sent.payloads[0][2])["message"]["item_id"] == "i1"
    assert again.retried == []
    shown = await desk.show("crm.timeline.messages.v1:1:1", "ws-a")
    assert (shown.retried_at, shown.retried_by) == (T0, "member:m1")


async def test_a_letter_delivered_again_keeps_its_retry() -> None:
    letters, sent = MemoryDeadLetters(), Sent()
    projection = DeadLetterProjection(letters)
    await projection.record(letter(1))
    await DeadLetterDesk(letters, sent, TOPICS).retry(DeadLetterQuery(), "crm-admin")

    await projection.record(letter(1))

    assert (await letters.letter("crm.timeline.messages.v1:1:1")).retried_by == "crm-admin"


async def test_a_letter_of_an_unknown_topic_is_refused_and_stays_pending() -> None:
    letters, sent = MemoryDeadLetters(), Sent()
    await DeadLetterProjection(letters).record(letter(1, source_topic="other.topic"))

    done = await DeadLetterDesk(letters, sent, TOPICS).retry(DeadLetterQuery(), "crm-admin")

    assert done.retried == []
    assert done.refused == [("other.topic:1:1", "other.topic is not a topic of this deployment")]
    assert sent.payloads == []
    assert len(await letters.pending(DeadLetterQuery(), 10)) == 1


async def test_the_listing_pages_newest_first_and_counts_everything_asked_for() -> None:
    letters = MemoryDeadLetters()
    await letters.record([stored_letter(letter(n, error="A" if n % 2 else "B")) for n in range(5)])
    desk = DeadLetterDesk(letters, Sent(), TOPICS)

    first = await desk.listing(DeadLetterQuery(workspace_id="ws-a"), None, 2)

    assert [x.offset for x in first.letters] == [4, 3]
    assert first.next_cursor is not None
    assert {(c.error_type, c.count) for c in first.counts} == {("A", 2), ("B", 3)}
    assert await desk.listing(DeadLetterQuery(workspace_id="ws-b"), None, 2) == type(first)(
        [], [], None
    )
