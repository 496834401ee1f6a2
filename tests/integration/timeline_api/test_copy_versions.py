"""Each account's copy of an item, versioned (docs/adr/0021): the projection's store on
the real FerretDB and its in-memory fake, by one contract. A replay's old version after a
newer live one changes nothing; the same version again applies; a removal is the copy's
newest word until a newer version comes; a message no mailbox has leaves its thread."""

from datetime import timedelta
from typing import Any

import pytest

from crm_schemas.base import utcnow
from crm_schemas.mail import TimelineMessage
from tests.integration.timeline_api.builders import mail, meeting
from timeline_api.adapters.projection_store import MongoProjectionStore
from timeline_api.adapters.timeline_store import TimelineStore
from timeline_api.adapters.timelines.memory import InMemoryTimelines
from timeline_api.domain.copies import CopyRemoved
from timeline_api.domain.records import event_record, message_record

pytestmark = pytest.mark.integration

WS = "ws-copies"
NOW = utcnow()


@pytest.fixture(params=["memory", "mongo"])
def store(request: pytest.FixtureRequest, db: Any) -> Any:
    """(the projection's store, what reads it back)."""
    if request.param == "memory":
        memory = InMemoryTimelines()
        return memory, memory
    timeline = TimelineStore(db)
    return MongoProjectionStore(timeline), timeline


def fetched(event: TimelineMessage, at: Any, **changes: Any) -> TimelineMessage:
    """The message as fetched at ``at`` (its copy's version), with other changes."""
    raw = event.message.model_copy(update={"fetched_at": at, **changes})
    return event.model_copy(update={"message": raw})


async def sources(reader: Any, thread_id: str) -> list[tuple[str, list[str]]]:
    messages = await reader.thread_messages(thread_id, with_body=False)
    return [(m.message_id, sorted(s.account_id for s in m.sources)) for m in messages]


async def test_an_older_version_of_a_mail_copy_after_a_newer_one_changes_nothing(store: Any):
    writes, reader = store
    live = fetched(mail(WS, "m1@x", subject="Pricing v2"), NOW)
    replayed = fetched(live, NOW - timedelta(hours=1), subject="Pricing v1")

    await writes.store_messages([message_record(live)])
    assert await writes.store_messages([message_record(replayed)]) == []

    thread = await reader.thread(live.thread_id)
    assert thread is not None
    assert thread.subject == "Pricing v2"


async def test_the_same_version_again_applies_what_the_rules_say_now(store: Any):
    writes, reader = store
    first = fetched(mail(WS, "m1@x", visibility="full"), NOW)
    again = first.model_copy(update={"visibility": "metadata"})  # the owner lowered it

    await writes.store_messages([message_record(first)])
    [summary] = await writes.store_messages([message_record(again)])

    assert summary.thread_id == first.thread_id
    [message] = await reader.thread_messages(first.thread_id, with_body=False)
    assert [s.visibility for s in message.sources] == ["metadata"]


async def test_a_withdrawn_copy_takes_its_mailbox_away_and_the_last_one_its_message(store: Any):
    writes, reader = store
    root = fetched(mail(WS, "m1@x", account="acc-a"), NOW)
    also = fetched(mail(WS, "m1@x", account="acc-b"), NOW)
    reply = fetched(mail(WS, "m2@x", root="m1@x", minutes=5, to=("bob@other.test",)), NOW)
    await writes.store_messages([message_record(m) for m in (root, also, reply)])
    item_1, item_2 = root.message.item_id, reply.message.item_id

    changes = await writes.remove_messages([CopyRemoved(item_1, "acc-a", NOW)])
    assert await sources(reader, root.thread_id) == [("m1@x", ["acc-b"]), ("m2@x", ["acc-a"])]
    assert [c.after.message_count if c.after else None for c in changes] == [2]

    changes = await writes.remove_messages([CopyRemoved(item_2, "acc-a", NOW)])
    [change] = changes
    assert change.before is not None
    assert change.before.message_count == 2
    assert change.after is not None
    assert change.after.message_count == 1
    assert "bob@other.test" not in change.after.participant_emails
    message, _ = await reader.explain_item(item_2)
    assert message is None or message.get("workspace_id") is None, "no longer synced"

    [gone] = await writes.remove_messages([CopyRemoved(item_1, "acc-b", NOW)])
    assert gone.after is None
    assert await reader.thread(root.thread_id) is None
    assert await reader.thread_messages(root.thread_id, with_body=False) == []


async def test_a_withdrawn_copy_stays_away_from_its_older_versions_and_returns_at_its_own(
    store: Any,
):
    writes, reader = store
    message = fetched(mail(WS, "m1@x"), NOW)
    await writes.store_messages([message_record(message)])
    await writes.remove_messages([CopyRemoved(message.message.item_id, "acc-a", NOW)])

    older = fetched(message, NOW - timedelta(minutes=1))
    assert await writes.store_messages([message_record(older)]) == []
    assert await reader.thread(message.thread_id) is None

    [back] = await writes.store_messages([message_record(message)])  # allowed again: replayed
    assert back.message_count == 1
    assert await sources(reader, message.thread_id) == [("m1@x", ["acc-a"])]


async def test_a_removal_older_than_the_copy_kept_removes_nothing(store: Any):
    writes, reader = store
    message = fetched(mail(WS, "m1@x"), NOW)
    await writes.store_messages([message_record(message)])

    changes = await writes.remove_messages(
        [CopyRemoved(message.message.item_id, "acc-a", NOW - timedelta(seconds=1))]
    )

    assert changes == []
    assert await sources(reader, message.thread_id) == [("m1@x", ["acc-a"])]


async def test_a_poll_keeps_the_newest_delivery_of_each_copy(store: Any):
    writes, reader = store
    newer = fetched(mail(WS, "m1@x", visibility="metadata"), NOW)
    older = fetched(mail(WS, "m1@x", visibility="full"), NOW - timedelta(minutes=1))

    await writes.store_messages([message_record(newer), message_record(older)])

    [message] = await reader.thread_messages(newer.thread_id, with_body=False)
    assert [s.visibility for s in message.sources] == ["metadata"]


async def test_an_older_version_of_a_meeting_replayed_after_a_newer_one_changes_nothing(
    store: Any,
):
    writes, reader = store
    v1 = meeting(WS, "uid-1", attendees=("eve@client.test",))
    v1 = v1.model_copy(update={"event": v1.event.model_copy(update={"fetched_at": NOW})})
    v2 = v1.model_copy(
        update={
            "event": v1.event.model_copy(
                update={"title": "Moved", "fetched_at": NOW + timedelta(minutes=1)}
            )
        }
    )
    await writes.upsert_event(event_record(v2))
    await writes.upsert_event(event_record(v1))
    kept = await _event(reader, store, v1.event.item_id)
    assert kept is not None
    assert kept["title"] == "Moved"

    item = v1.event.item_id
    await writes.remove_event_source(CopyRemoved(item, "acc-a", NOW + timedelta(minutes=2)))
    await writes.upsert_event(event_record(v2))  # a replay of the version before the deletion
    assert await _event(reader, store, item) is None
    v3 = v2.model_copy(
        update={"event": v2.event.model_copy(update={"fetched_at": NOW + timedelta(minutes=3)})}
    )
    await writes.upsert_event(event_record(v3))  # restored on the calendar later
    assert await _event(reader, store, item) is not None


async def _event(reader: Any, store: Any, item_id: str) -> dict[str, Any] | None:
    if isinstance(reader, InMemoryTimelines):
        found = reader.stored_events.get(item_id)
        return found.model_dump() if found else None
    doc = await reader.events.find_one({"_id": item_id})
    return doc if doc is not None and doc.get("sources") else None


async def test_a_message_stored_again_unchanged_writes_nothing_but_repairs_its_thread(db: Any):
    timeline = TimelineStore(db)
    writes = MongoProjectionStore(timeline)
    message = fetched(mail(WS, "m1@x"), NOW)
    [first] = await writes.store_messages([message_record(message)])
    before = await db["messages"].find_one({"_id": message.message.item_id})
    # a crash after the message and its member entry were written, before the summary
    await db["threads"].delete_one({"_id": message.thread_id})

    [again] = await writes.store_messages([message_record(message)])

    assert again == first, "announced again, for the read model to repair itself too"
    assert await db["messages"].find_one({"_id": message.message.item_id}) == before
    thread = await timeline.thread(message.thread_id)
    assert thread is not None
    assert thread.message_count == 1
