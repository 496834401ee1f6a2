"""Merging threads in the read model, one contract against MongoDB on the real FerretDB and
against the in-memory fake: redirects are kept once, and a thread's messages move into
another, which is summarised again, while the thread that goes leaves no row behind."""

from typing import Any

import pytest

from crm_schemas.ids import message_item_id, thread_id
from tests.integration.timeline_api.builders import mail
from timeline_api.adapters.projection_store import MongoProjectionStore
from timeline_api.adapters.timeline_store import TimelineStore
from timeline_api.adapters.timelines.memory import InMemoryTimelines
from timeline_api.domain.records import message_record

pytestmark = pytest.mark.integration

WS = "ws-merges"
A, B = thread_id(WS, "a@x"), thread_id(WS, "b@x")


@pytest.fixture(params=["memory", "mongo"])
async def store(request: pytest.FixtureRequest, db: Any) -> Any:
    """(what the projection writes through, what the API reads)."""
    if request.param == "memory":
        memory = InMemoryTimelines()
        return memory, memory
    timeline = TimelineStore(db)
    return MongoProjectionStore(timeline), timeline


async def test_a_thread_absorbed_moves_its_messages_and_leaves_no_row(store: Any) -> None:
    writes, reads = store
    await writes.store_messages(
        [
            message_record(mail(WS, "a@x", subject="Pricing")),
            message_record(mail(WS, "b@x", root="b@x", minutes=5, subject="Re: Pricing")),
            message_record(mail(WS, "b2@x", root="b@x", minutes=9, account="acc-b")),
        ]
    )
    await writes.redirect_threads({B: A})
    await writes.redirect_threads({B: "elsewhere"})  # a thread merges once: the first stays

    changes = await writes.absorb_thread(A, B)
    again = await writes.absorb_thread(A, B)

    assert await writes.thread_redirects([A, B]) == {B: A}
    gone, stays = changes
    assert (gone.before.message_count, gone.after) == (2, None)
    assert (stays.before.message_count, stays.after.message_count) == (1, 3)
    assert stays.after.subject == "Pricing"
    assert again == []
    assert await reads.thread(B) is None
    moved = await reads.thread_messages(A, with_body=False)
    assert [m.message_id for m in moved] == ["a@x", "b@x", "b2@x"]
    assert {m.thread_id for m in moved} == {A}
    [late] = [m for m in moved if m.message_id == "b2@x"]
    assert [s.account_id for s in late.sources] == ["acc-b"]
    if not isinstance(reads, InMemoryTimelines):
        explained, _ = await reads.explain_item(message_item_id(WS, "b@x"))
        assert explained["thread_id"] == A
