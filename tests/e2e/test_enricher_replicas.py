"""Two enricher processes in one consumer group, on real Kafka, against one burst of mail
and meetings that share a few dozen addresses: one person per address, one company per
domain, in the enricher's database and in the timeline API."""

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from faststream.kafka import KafkaBroker
from localsystem import LocalSystem
from pydantic import SecretStr

from crm_runtime.bus import publish
from crm_schemas.base import Address
from crm_schemas.calendar import Attendee, MatchedEvent, RawEvent
from crm_schemas.ids import company_id, event_item_id, message_item_id, person_id, thread_id
from crm_schemas.mail import FolderRole, MatchedMessage, Participant, ParticipantRole, RawMessage
from crm_schemas.topics import Topics
from tests.e2e.harness import consumer_lag, eventually, timeline_settings

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

OWNER = "owner@acme.test"
WORK_DOMAINS = tuple(f"client{i}.test" for i in range(8))
ADDRESSES = tuple(f"person{i}@{WORK_DOMAINS[i % 8]}" for i in range(32)) + tuple(
    f"friend{i}@gmail.com" for i in range(4)
)
MESSAGES, MEETINGS = 300, 100
T0 = datetime(2026, 5, 1, 9, tzinfo=UTC)


async def configure(system: LocalSystem, stack: Any) -> tuple[str, str, str]:
    """Workspace, account and an API key through crm-admin, creating people from all mail."""
    from timeline_api.entrypoints.admin import add_member, connect_account, create_workspace

    settings = timeline_settings(system)
    workspace = await create_workspace(settings, name="Acme", domains=["acme.test"])
    account = await connect_account(
        settings,
        workspace_id=workspace,
        email=OWNER,
        imap_host=stack.imap_host,
        imap_port=stack.imap_port,
        imap_tls="none",
        username=OWNER,
        password=SecretStr("unused"),
        contact_creation="sent_and_received",
    )
    key = (await add_member(settings, workspace, OWNER))["api_key"]
    return workspace, account, key


def _participants(emails: list[str], role: ParticipantRole) -> tuple[Participant, ...]:
    owner = Participant(email=OWNER, roles=(ParticipantRole.FROM,), internal=True)
    return (owner, *(Participant(email=e, roles=(role,), internal=False) for e in emails))


def message(ws: str, account: str, n: int, emails: list[str]) -> MatchedMessage:
    mid = f"burst-{n}@acme.test"
    raw = RawMessage.model_validate(
        {
            "item_id": message_item_id(ws, mid),
            "workspace_id": ws,
            "account_id": account,
            "provider": "imap",
            "provider_ref": f"INBOX/1/{n}",
            "folder": "INBOX",
            "folder_role": FolderRole.INBOX,
            "message_id": mid,
            "subject": f"Burst {n}",
            "sent_at": T0 + timedelta(minutes=n),
            "from": [Address(email=OWNER)],
            "to": [Address(email=e, name=None) for e in emails],
        }
    )
    return MatchedMessage(
        message=raw,
        thread_id=thread_id(ws, mid),
        sent_by_owner=n % 2 == 0,
        participants=_participants(emails, ParticipantRole.TO),
    )


def meeting(ws: str, account: str, n: int, emails: list[str]) -> MatchedEvent:
    uid = f"burst-{n}"
    raw = RawEvent(
        item_id=event_item_id(ws, uid, None),
        workspace_id=ws,
        account_id=account,
        provider="caldav",
        calendar="work",
        ical_uid=uid,
        title=f"Meeting {n}",
        starts_at=T0 + timedelta(hours=n),
        ends_at=T0 + timedelta(hours=n, minutes=30),
        organizer=Address(email=OWNER),
        attendees=tuple(Attendee(email=e) for e in emails),
    )
    return MatchedEvent(event=raw, participants=_participants(emails, ParticipantRole.ATTENDEE))


async def burst(system: LocalSystem, ws: str, account: str) -> None:
    """Hundreds of messages and meetings, each with a few of the same few dozen addresses."""
    topics = Topics(prefix=system.prefix)
    pick = random.Random(5)
    broker = KafkaBroker(system.kafka_bootstrap)
    await broker.connect()
    try:
        sends = []
        for n in range(max(MESSAGES, MEETINGS)):
            if n < MESSAGES:
                m = message(ws, account, n, pick.sample(ADDRESSES, 3))
                sends.append(publish(broker, topics.mail_matched, m.message.item_id, m))
            if n < MEETINGS:
                e = meeting(ws, account, n, pick.sample(ADDRESSES, 4))
                sends.append(publish(broker, topics.calendar_matched, e.event.item_id, e))
        await asyncio.gather(*sends)
    finally:
        await broker.stop()


async def drained(system: LocalSystem) -> int:
    p = system.prefix
    groups = {
        f"{p}.enricher": [f"{p}.mail.matched.v1", f"{p}.calendar.matched.v1"],
        f"{p}.enricher.commands": [f"{p}.records.commands.v1"],
        f"{p}.timeline-api.records": [f"{p}.records.v1"],
        f"{p}.timeline-api.messages": [f"{p}.timeline.messages.v1"],
    }
    return sum([await consumer_lag(system.kafka_bootstrap, g, t) for g, t in groups.items()])


def _was_assigned_matched_partitions(system: LocalSystem, replica: str) -> bool:
    """Whether the replica's log shows partitions of the matched topics assigned to it
    (crm_runtime.health logs each assignment)."""
    log = (system.log_dir / f"{replica}.log").read_text(errors="replace")
    return any(
        '"msg": "partitions assigned"' in line and ".matched.v1/" in line
        for line in log.splitlines()
    )


async def test_two_enricher_replicas_create_one_person_per_address_and_one_company_per_domain(
    system: LocalSystem, stack: Any, mongo: Any
) -> None:
    ws, account, key = await configure(system, stack)

    # Both replicas are in the group before the burst arrives, so they share it: the
    # pipeline is fast enough that one replica drains a burst before a second one joins.
    system.start("enricher")
    system.start("enricher", instance="2")
    system.start("timeline-api")
    await asyncio.to_thread(system.wait_for_api)

    async def both_assigned() -> bool:
        return all(_was_assigned_matched_partitions(system, r) for r in ("enricher", "enricher#2"))

    await eventually(both_assigned, bool, system, within=90)
    await burst(system, ws, account)
    await eventually(lambda: drained(system), lambda lag: lag == 0, system, within=240)

    enricher_db = mongo[f"{system.prefix}_enricher"]
    people = await enricher_db.people.find({}).to_list()
    companies = await enricher_db.companies.find({}).to_list()
    assert sorted(e for p in people for e in p["emails"]) == sorted(ADDRESSES)
    assert {p["_id"] for p in people} == {person_id(ws, a) for a in ADDRESSES}
    assert sorted(d for c in companies for d in c["domains"]) == sorted(WORK_DOMAINS)
    assert {c["_id"] for c in companies} == {company_id(ws, d) for d in WORK_DOMAINS}

    timeline_db = mongo[f"{system.prefix}_timeline"]
    assert await timeline_db.people.count_documents({}) == len(ADDRESSES)
    assert await timeline_db.companies.count_documents({}) == len(WORK_DOMAINS)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=system.api_url, headers=headers, timeout=10) as api:
        for address in ("person0@client0.test", "friend1@gmail.com"):
            found = (await api.get("/v1/people", params={"email": address})).json()
            assert len(found["items"]) == 1
        client0 = (await api.get("/v1/companies", params={"domain": "client0.test"})).json()
        [company] = client0["items"]
        threads = (await api.get(f"/v1/companies/{company['id']}/threads")).json()
        assert threads["items"]
