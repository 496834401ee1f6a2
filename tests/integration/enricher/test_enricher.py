"""The enricher on the real Kafka and FerretDB: records created once, announced for sure."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import TypeAdapter

from crm_runtime.service import Runtime, running
from crm_schemas.base import Address
from crm_schemas.config import AccountConfigured, ContactCreation, MailSettings, WorkspaceConfigured
from crm_schemas.ids import person_id
from crm_schemas.mail import (
    FolderRole,
    MatchedMessage,
    Participant,
    ParticipantRole,
    RawMessage,
    RawMessageRemoved,
    ThreadsMerged,
    TimelineMailItem,
)
from crm_schemas.record_commands import (
    ChangePerson,
    CreateCompany,
    CreatePerson,
    MergePeople,
    PersonSeen,
    RecordCommand,
)
from enricher.app import Enricher, build
from enricher.owner.commands import apply
from enricher.owner.handler import RecordOwner
from enricher.settings import EnricherSettings
from tests.e2e.harness import consumer_lag

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

WS = "ws-1"
OWNER = "alice@acme.test"
CLIENT = "jane@client.test"


@pytest.fixture
async def runtime(isolated: dict[str, str]) -> AsyncIterator[Runtime]:
    """The enricher with every consumer running (the records' writer among them)."""
    settings = EnricherSettings(
        kafka_bootstrap=isolated["kafka_bootstrap"],
        mongo_url=isolated["mongo_url"],
        mongo_db=f"{isolated['mongo_db_prefix']}_enricher",
        topic_prefix=isolated["topic_prefix"],
        group_prefix=isolated["group_prefix"],
    )
    built = build(settings)
    async with running(built):
        await built.config.apply(
            WorkspaceConfigured(workspace_id=WS, name="Acme", domains=("acme.test",))
        )
        await built.config.apply(
            AccountConfigured(
                account_id="acc-1",
                workspace_id=WS,
                owner_member_id="m-1",
                email=OWNER,
                mail=MailSettings(contact_creation=ContactCreation.SENT_ONLY),
            )
        )
        yield built
        await built.mongo.drop_database(settings.mongo_db)


async def applied(runtime: Runtime) -> None:
    """Until the records' writer has applied every command sent so far."""
    group = runtime.settings.group("enricher.commands")
    topics = [runtime.topics.record_commands]
    deadline = time.monotonic() + 30
    while await consumer_lag(runtime.settings.kafka_bootstrap, group, topics) > 0:
        assert time.monotonic() < deadline, "the records' writer did not catch up"
        await asyncio.sleep(0.1)


async def by_hand(runtime: Runtime, command: RecordCommand) -> None:
    """A records API command, applied by the writer (as its consumer would)."""
    await applied(runtime)
    await RecordOwner(Enricher(runtime).records, runtime.bulk, runtime.topics).on_commands(
        [command]
    )


def command_id() -> str:
    return uuid.uuid4().hex


def sent_to_client() -> MatchedMessage:
    message = RawMessage.model_validate(
        {
            "item_id": "item-1",
            "workspace_id": WS,
            "account_id": "acc-1",
            "provider": "imap",
            "provider_ref": "Sent/1/1",
            "folder": "Sent",
            "folder_role": FolderRole.SENT,
            "message_id": "m1@acme.test",
            "sent_at": datetime(2026, 1, 1, tzinfo=UTC),
            "from": [Address(email=OWNER)],
            "to": [Address(email=CLIENT, name="Jane Doe")],
        }
    )
    participants = (
        Participant(email=OWNER, roles=(ParticipantRole.FROM,), internal=True),
        Participant(email=CLIENT, name="Jane Doe", roles=(ParticipantRole.TO,), internal=False),
    )
    return MatchedMessage(
        message=message, thread_id="t-1", sent_by_owner=True, participants=participants
    )


async def records_on_topic(runtime: Runtime, expected: int) -> list[dict[str, Any]]:
    return [json.loads(v) for _, v in await on_topic(runtime, runtime.topics.records, expected)]


async def on_topic(runtime: Runtime, topic: str, expected: int) -> list[tuple[str, bytes]]:
    """(key, value) of the records on ``topic``, once ``expected`` of them are there."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=runtime.settings.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[tuple[str, bytes]] = []
    deadline = time.monotonic() + 20
    try:
        while len(found) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            found.extend((r.key.decode(), r.value) for rs in batch.values() for r in rs)
    finally:
        await consumer.stop()
    return found


async def test_a_person_and_company_are_created_once_however_often_the_message_comes(
    runtime: Runtime,
) -> None:
    enricher = Enricher(runtime)
    for _ in range(3):
        await enricher.on_matched_message(sent_to_client())
    await applied(runtime)

    people = await runtime.db["people"].find({}).to_list()
    companies = await runtime.db["companies"].find({}).to_list()
    assert [p["emails"] for p in people] == [[CLIENT]]
    assert [c["domains"] for c in companies] == [["client.test"]]
    announced = await records_on_topic(runtime, 3)
    assert sorted(r["type"] for r in announced) == ["company", "person"]


async def test_a_record_stored_just_before_a_crash_is_announced_when_its_command_comes_again(
    runtime: Runtime,
) -> None:
    enricher = Enricher(runtime)
    # What a crash between the write and the publish leaves behind: a stored person,
    # not announced on the records topic, and the command not committed.
    seen = PersonSeen(workspace_id=WS, email=CLIENT, display_name="Jane Doe", create=True)
    book = await enricher.records.load([seen])
    apply(book, seen)
    await enricher.records.save(book)

    await runtime.bulk.publish_all([(runtime.topics.record_commands, WS, seen)])  # again
    await applied(runtime)

    announced = await records_on_topic(runtime, 1)
    assert [(r.get("person_id"), r["name"]) for r in announced] == [
        (person_id(WS, CLIENT), "Jane Doe")
    ]
    stored = await runtime.db["people"].find_one({"_id": person_id(WS, CLIENT)})
    assert stored is not None
    assert stored["announced"] is True


async def test_received_mail_creates_nobody_under_sent_only_but_its_name_is_kept(
    runtime: Runtime,
) -> None:
    enricher = Enricher(runtime)
    received = sent_to_client().model_copy(update={"sent_by_owner": False})
    await enricher.on_matched_message(received)
    await applied(runtime)
    assert await runtime.db["people"].count_documents({}) == 0
    kept = await runtime.db["names_seen"].find({}).to_list()
    assert [(k["_id"], k["name"]) for k in kept] == [(f"{WS}:{CLIENT}", "Jane Doe")]


async def test_a_person_created_by_hand_is_reused_not_duplicated(runtime: Runtime) -> None:
    enricher = Enricher(runtime)
    await by_hand(
        runtime,
        CreatePerson(
            command_id=command_id(),
            workspace_id=WS,
            person_id="crm-jane",
            name="Jane (CRM)",
            emails=("other@elsewhere.test", CLIENT),
        ),
    )

    await enricher.on_matched_message(sent_to_client())
    await applied(runtime)

    people = await runtime.db["people"].find({}).to_list()
    assert [(p["_id"], p["name"]) for p in people] == [("crm-jane", "Jane (CRM)")]


async def test_a_company_created_by_hand_gets_the_people_of_its_domain(runtime: Runtime) -> None:
    enricher = Enricher(runtime)
    await by_hand(
        runtime,
        CreateCompany(
            command_id=command_id(),
            workspace_id=WS,
            company_id="crm-client",
            name="Client Inc",
            domains=("client.test",),
        ),
    )

    await enricher.on_matched_message(sent_to_client())
    await applied(runtime)

    [person] = await runtime.db["people"].find({}).to_list()
    assert person["company_id"] == "crm-client"
    assert await runtime.db["companies"].count_documents({}) == 1


async def test_a_merged_persons_addresses_lead_to_the_survivor(runtime: Runtime) -> None:
    enricher = Enricher(runtime)
    await enricher.on_matched_message(sent_to_client())  # auto-creates Jane
    await by_hand(
        runtime,
        CreatePerson(
            command_id=command_id(),
            workspace_id=WS,
            person_id="crm-jane",
            name="J",
            emails=("j@x.test",),
        ),
    )
    await by_hand(
        runtime,
        MergePeople(
            command_id=command_id(),
            workspace_id=WS,
            person_id="crm-jane",
            absorbed_id=person_id(WS, CLIENT),
        ),
    )

    found = await enricher.records.person_by_email(WS, CLIENT)
    assert found is not None
    assert (found.person_id, found.emails) == ("crm-jane", ("j@x.test", CLIENT))
    gone = await runtime.db["people"].find_one({"_id": person_id(WS, CLIENT)})
    assert gone is not None
    assert gone["merged_into"] == "crm-jane"


async def test_a_role_address_in_copy_does_not_become_a_person(runtime: Runtime) -> None:
    enricher = Enricher(runtime)
    matched = sent_to_client()
    support = Participant(email="support@client.test", roles=(ParticipantRole.CC,), internal=False)
    await enricher.on_matched_message(
        matched.model_copy(update={"participants": (*matched.participants, support)})
    )
    await applied(runtime)
    people = await runtime.db["people"].find({}).to_list()
    assert [p["emails"] for p in people] == [[CLIENT]]


def with_display_name(matched: MatchedMessage, name: str | None) -> MatchedMessage:
    """The same message with the client's display name changed (None: a bare address)."""
    participants = tuple(
        p.model_copy(update={"name": name}) if p.email == CLIENT else p
        for p in matched.participants
    )
    return matched.model_copy(update={"participants": participants})


async def test_a_person_named_from_the_address_takes_the_first_display_name_seen(
    runtime: Runtime,
) -> None:
    enricher = Enricher(runtime)
    # First seen as a bare address (a calendar attendee without CN, say): named from it.
    await enricher.on_matched_message(with_display_name(sent_to_client(), None))
    await applied(runtime)
    first = await enricher.records.person_by_email(WS, CLIENT)
    assert first is not None
    assert (first.name, first.name_from_address) == ("Jane", True)

    await enricher.on_matched_message(sent_to_client())  # now with "Jane Doe"
    await applied(runtime)
    renamed = await enricher.records.person_by_email(WS, CLIENT)
    assert renamed is not None
    assert (renamed.name, renamed.name_from_address) == ("Jane Doe", False)
    assert renamed.updated_at > first.updated_at

    # Another display name later changes nothing: only an address-made name is replaced.
    await enricher.on_matched_message(with_display_name(sent_to_client(), "J. Doe (Client)"))
    await applied(runtime)
    kept = await enricher.records.person_by_email(WS, CLIENT)
    assert kept is not None
    assert kept.name == "Jane Doe"
    people = [r for r in await records_on_topic(runtime, 4) if r["type"] == "person"]
    assert [p["name"] for p in people] == ["Jane", "Jane Doe"]


async def test_a_name_given_through_the_records_api_is_never_replaced(runtime: Runtime) -> None:
    enricher = Enricher(runtime)
    await enricher.on_matched_message(with_display_name(sent_to_client(), None))
    await by_hand(
        runtime,
        ChangePerson(
            command_id=command_id(),
            workspace_id=WS,
            person_id=person_id(WS, CLIENT),
            name="Jane from Client",
        ),
    )

    await enricher.on_matched_message(sent_to_client())
    await applied(runtime)

    found = await enricher.records.person_by_email(WS, CLIENT)
    assert found is not None
    assert found.name == "Jane from Client"


async def test_a_withdrawn_copy_and_a_merge_pass_on_to_the_timeline_under_their_threads(
    runtime: Runtime,
) -> None:
    enricher = Enricher(runtime)
    kept = sent_to_client()
    merged = ThreadsMerged(workspace_id=WS, into_thread_id="t-0", from_thread_id="t-3")
    removal = RawMessageRemoved(
        item_id="item-2",
        workspace_id=WS,
        account_id="acc-1",
        message_id="m2@acme.test",
        thread_id="t-2",
        folder="INBOX",
        reason="dropped",
        removed_at=datetime(2026, 1, 2, tzinfo=UTC),
    )

    await enricher.on_matched_messages([removal, kept, merged])
    await applied(runtime)

    topic = runtime.topics.timeline_messages
    records = dict(await on_topic(runtime, topic, 3))
    assert sorted(records) == ["t-1", "t-2", "t-3"]
    assert TypeAdapter(TimelineMailItem).validate_json(records["t-2"]) == removal
    assert TypeAdapter(TimelineMailItem).validate_json(records["t-3"]) == merged
    assert len(await records_on_topic(runtime, 2)) == 2, "the kept message still makes records"
