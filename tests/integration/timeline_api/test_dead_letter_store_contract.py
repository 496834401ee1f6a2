"""The dead letters' store, one contract against MongoDB on the real FerretDB and against
the in-memory fake."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_schemas.outcomes import DeadLetter
from timeline_api.adapters.dead_letters import MongoDeadLetters
from timeline_api.adapters.memory_dead_letters import MemoryDeadLetters
from timeline_api.domain.dead_letters import DeadLetterQuery, ErrorCount, stored_letter
from timeline_api.domain.pagination import Cursor

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def letter(offset: int, workspace: str = "ws-a", error: str = "A", topic: str = "t.raw") -> Any:
    return stored_letter(
        DeadLetter(
            source_topic=topic,
            partition=0,
            offset=offset,
            key=f"k{offset}",
            handler="h",
            error_type=error,
            error="boom",
            attempts=5,
            payload=json.dumps({"workspace_id": workspace, "n": offset}),
            failed_at=T0 + timedelta(seconds=offset),
        )
    )


@pytest.fixture(params=["memory", "mongo"])
async def letters(request: pytest.FixtureRequest, db: Any) -> Any:
    if request.param == "memory":
        return MemoryDeadLetters()
    store = MongoDeadLetters(db)
    await store.create_indexes()
    return store


async def test_letters_are_paged_newest_first_filtered_and_counted(letters: Any) -> None:
    await letters.record(
        [letter(1), letter(2, error="B"), letter(3), letter(4, "ws-b"), letter(5, topic="t.x")]
    )
    ws_a = DeadLetterQuery(workspace_id="ws-a")

    first = await letters.page(ws_a, None, 2)
    rest = await letters.page(ws_a, Cursor(first[-1].failed_at, first[-1].letter_id), 10)

    assert [x.offset for x in first] == [5, 3]
    assert [x.offset for x in rest] == [2, 1]
    assert all(x.payload == "" for x in first + rest)
    assert await letters.counts(ws_a) == [
        ErrorCount("t.raw", "A", 2),
        ErrorCount("t.raw", "B", 1),
        ErrorCount("t.x", "A", 1),
    ]
    since = DeadLetterQuery(workspace_id="ws-a", topic="t.raw", since=T0 + timedelta(seconds=2))
    assert [x.offset for x in await letters.page(since, None, 10)] == [3, 2]
    assert [x.offset for x in await letters.page(DeadLetterQuery(error_type="B"), None, 9)] == [2]


async def test_a_retried_letter_stays_retried_when_it_comes_again(letters: Any) -> None:
    await letters.record([letter(1), letter(2)])
    await letters.mark_retried([letter(1).letter_id], T0, "crm-admin")

    await letters.record([letter(1)])

    kept = await letters.letter(letter(1).letter_id)
    assert (kept.retried_at, kept.retried_by) == (T0, "crm-admin")
    assert json.loads(kept.payload)["n"] == 1
    pending = await letters.pending(DeadLetterQuery(), 10)
    assert [x.offset for x in pending] == [2]
    assert json.loads(pending[0].payload)["n"] == 2
    only_new = DeadLetterQuery(pending_only=True)
    assert [x.offset for x in await letters.page(only_new, None, 10)] == [2]
    assert await letters.letter("t.raw:0:99") is None
