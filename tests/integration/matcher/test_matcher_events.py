"""The matcher's calendar path on the real Kafka and FerretDB."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import TypeAdapter

from crm_runtime.bus import ensure_topics
from crm_runtime.service import TOPIC_PARTITIONS, Runtime
from crm_schemas.base import Address
from crm_schemas.calendar import (
    Attendee,
    MatchedCalendarItem,
    MatchedEvent,
    RawEvent,
    RawEventRemoved,
)
from crm_schemas.config import AccountConfigured, MailSettings, WorkspaceConfigured
from crm_schemas.ids import thread_id
from crm_schemas.mail import (
    FolderRole,
    MatchedMailItem,
    MatchedMessage,
    RawMessage,
    RawMessageRemoved,
    ThreadsMerged,
)
from crm_schemas.outcomes import ItemDropped
from matcher.app import Matcher, build
from matcher.settings import MatcherSettings
from tests.integration.fetcher.conftest import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

WS = "ws-m"
MATCHED: TypeAdapter[MatchedEvent | RawEventRemoved] = TypeAdapter(MatchedCalendarItem)
MATCHED_MAIL: TypeAdapter[MatchedMessage | RawMessageRemoved | ThreadsMerged] = TypeAdapter(
    MatchedMailItem
)


@pytest.fixture
async def runtime(isolated: dict[str, str]) -> AsyncIterator[Runtime]:
    settings = MatcherSettings(
        kafka_bootstrap=isolated["kafka_bootstrap"],
        mongo_url=isolated["mongo_url"],
        mongo_db=f"{isolated['mongo_db_prefix']}_matcher",
        topic_prefix=isolated["topic_prefix"],
        group_prefix=isolated["group_prefix"],
    )
    built = build(settings)
    await ensure_topics(settings.kafka_bootstrap, built.topics.all(), TOPIC_PARTITIONS)
    await built.broker.connect()
    await built.config.apply(
        WorkspaceConfigured(workspace_id=WS, name="Acme", domains=("acme.test",))
    )
    await built.config.apply(
        AccountConfigured(
            account_id="acc-m",
            workspace_id=WS,
            owner_member_id="m-1",
            email="owner@acme.test",
            mail=MailSettings(blocklist=("blocked.test",)),
        )
    )
    yield built
    await built.broker.stop()
    await built.bulk.close()
    await built.mongo.drop_database(settings.mongo_db)
    await built.mongo.close()


def meeting(*attendees: str) -> RawEvent:
    starts = datetime(2026, 6, 1, 9, tzinfo=UTC)
    return RawEvent(
        item_id="item-m",
        workspace_id=WS,
        account_id="acc-m",
        provider="caldav",
        calendar="Work",
        ical_uid="uid-m",
        title="Planning",
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        organizer=Address(email="owner@acme.test"),
        attendees=tuple(Attendee(email=a) for a in attendees),
    )


async def matched(runtime: Runtime) -> list[MatchedEvent | RawEventRemoved]:
    topic = runtime.topics.calendar_matched
    records = await read_topic(runtime.settings.kafka_bootstrap, topic)
    return [MATCHED.validate_json(value) for _, value in records]


async def test_a_meeting_that_becomes_internal_is_withdrawn_from_the_timeline(runtime: Runtime):
    matcher = Matcher(runtime)
    await matcher.on_raw_event(meeting("bob@customer.test"))
    await matcher.on_raw_event(meeting("carol@acme.test"))  # the customer was taken off

    first, second = await matched(runtime)
    assert isinstance(first, MatchedEvent)
    assert isinstance(second, RawEventRemoved)
    assert (second.item_id, second.account_id, second.reason) == ("item-m", "acc-m", "dropped")
    assert "Planning" not in second.model_dump_json()
    (dropped,) = await read_topic(runtime.settings.kafka_bootstrap, runtime.topics.dropped)
    assert ItemDropped.model_validate_json(dropped[1]).reason == "internal"


async def test_a_meeting_with_a_blocked_attendee_is_withdrawn_every_time_it_comes(
    runtime: Runtime,
):
    matcher = Matcher(runtime)
    for _ in range(2):  # redelivery: the same removal again, which removes nothing more
        await matcher.on_raw_event(meeting("eve@blocked.test"))
    removals = await matched(runtime)
    assert [type(r).__name__ for r in removals] == ["RawEventRemoved"] * 2
    assert {r.item_id for r in removals} == {"item-m"}


def message(*to: str, folder: str = "INBOX") -> RawMessage:
    return RawMessage.model_validate(
        {
            "item_id": "item-mail",
            "workspace_id": WS,
            "account_id": "acc-m",
            "provider": "imap",
            "provider_ref": f"{folder}/1/7",
            "folder": folder,
            "folder_role": FolderRole.INBOX,
            "message_id": "m7@acme.test",
            "sent_at": datetime(2026, 6, 1, 9, tzinfo=UTC),
            "from": (Address(email="owner@acme.test"),),
            "to": tuple(Address(email=a) for a in to),
            "subject": "Offer",
        }
    )


async def test_a_dropped_mail_copy_is_withdrawn_from_the_timeline_at_its_version(
    runtime: Runtime,
):
    matcher = Matcher(runtime)
    kept, blocked = message("bob@customer.test"), message("eve@blocked.test")
    await matcher.on_raw_messages([kept, blocked])

    records = await read_topic(runtime.settings.kafka_bootstrap, runtime.topics.mail_matched)
    first, second = (MATCHED_MAIL.validate_json(value) for _, value in records)
    assert isinstance(first, MatchedMessage)
    assert isinstance(second, RawMessageRemoved)
    assert (second.item_id, second.account_id, second.reason) == ("item-mail", "acc-m", "dropped")
    assert second.thread_id == first.thread_id == thread_id(WS, "m7@acme.test")
    assert second.removed_at == blocked.fetched_at, "it withdraws that version, no newer one"
    assert "Offer" not in second.model_dump_json()
    (dropped,) = await read_topic(runtime.settings.kafka_bootstrap, runtime.topics.dropped)
    assert ItemDropped.model_validate_json(dropped[1]).reason == "blocked"


def reply(message_id: str, *references: str) -> RawMessage:
    """Another message of the mailbox, answering ``references`` (the first is its root)."""
    return message("bob@customer.test").model_copy(
        update={
            "item_id": f"item-{message_id}",
            "message_id": message_id,
            "references": references,
            "in_reply_to": references[-1],
        }
    )


async def test_a_dropped_copy_is_withdrawn_from_the_thread_its_conversation_merged_into(
    runtime: Runtime,
):
    matcher = Matcher(runtime)
    first = message("bob@customer.test").model_copy(update={"message_id": "b1@acme.test"})
    await matcher.on_raw_messages([first])  # its own thread, named after b1
    await matcher.on_raw_messages([reply("c2@acme.test", "a0@acme.test", "b1@acme.test")])
    dropped = first.model_copy(update={"to": (Address(email="eve@blocked.test"),)})
    await matcher.on_raw_messages([dropped])  # a0's conversation has b1's since the reply

    records = await read_topic(runtime.settings.kafka_bootstrap, runtime.topics.mail_matched)
    events = [MATCHED_MAIL.validate_json(value) for _, value in records]
    merge = next(e for e in events if isinstance(e, ThreadsMerged))
    assert (merge.from_thread_id, merge.into_thread_id) == (
        thread_id(WS, "b1@acme.test"),
        thread_id(WS, "a0@acme.test"),
    )
    (removal,) = [e for e in events if isinstance(e, RawMessageRemoved)]
    assert removal.thread_id == thread_id(WS, "a0@acme.test"), "where its message is now"
