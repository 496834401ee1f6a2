"""End to end: Dovecot and Radicale -> the four services over Kafka -> FerretDB -> HTTP."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import seed
from localsystem import LocalSystem

from tests.e2e.harness import eventually, timeline_settings, wait_drained

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

OWN_DOMAIN = "acme.test"


async def connect(
    system: LocalSystem, stack: Any, mailbox: str, caldav_user: str | None
) -> tuple[str, str]:
    """Bootstrap the workspace with crm-admin, then connect the mailbox (and calendar)
    through the API as its owner, who tests it first; returns the account and the key."""
    from timeline_api.entrypoints.admin import bootstrap

    settings = timeline_settings(system)
    made = await bootstrap(settings, "Acme", [OWN_DOMAIN], admin_email=mailbox)
    login = {"username": mailbox, "password": stack.imap_test_password}
    body: dict[str, Any] = {
        "email": mailbox,
        "imap": {"host": stack.imap_host, "port": stack.imap_port, "tls": "none", **login},
        "mail": {"visibility": "subject", "contact_creation": "sent_only"},
    }
    if caldav_user:
        body["caldav"] = {"url": stack.caldav_url}
    headers = {"Authorization": f"Bearer {made['api_key']}"}
    async with httpx.AsyncClient(base_url=system.api_url, headers=headers, timeout=30) as api:
        response = await api.post("/v1/accounts", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"], made["api_key"]


def sync_now(system: LocalSystem, account_id: str, kind: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "fetcher", "sync-now", "--account", account_id, "--kind", kind],
        env=system.env_for("fetcher"),
        check=True,
        capture_output=True,
        timeout=60,
    )


def seed_mailbox(stack: Any, mailbox: str, client: str, colleague: str) -> None:
    now = datetime.now(UTC)
    proposal = f"proposal-{mailbox}"
    sent = seed.build_message(
        message_id=proposal,
        sender=f"Alice <{mailbox}>",
        to=[f"Jane Doe <{client}>"],
        cc=[colleague],
        subject="Proposal for Q1",
        body="Here is our proposal.",
        sent_at=now - timedelta(hours=3),
    )
    reply = seed.build_message(
        message_id=f"reply-{mailbox}",
        sender=f'"Doe, Jane" <{client}>',
        to=[mailbox],
        subject="Re: Proposal for Q1",
        body="Looks good.",
        sent_at=now - timedelta(hours=2),
        in_reply_to=proposal,
    )
    internal = seed.build_message(
        message_id=f"lunch-{mailbox}",
        sender=colleague,
        to=[mailbox],
        subject="Lunch?",
        body="Internal only.",
        sent_at=now - timedelta(hours=1),
    )
    host, port, password = stack.imap_host, stack.imap_port, stack.imap_test_password
    seed.append_messages(host, port, mailbox, password, "Sent", [sent])
    seed.append_messages(host, port, mailbox, password, "INBOX", [reply, internal])


def seed_calendar(stack: Any, user: str, organizer: str, client: str, colleague: str) -> None:
    seed.ensure_caldav_user(Path(stack.caldav_users_file), user, stack.imap_test_password)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    events = [
        seed.build_event(
            uid=f"kickoff-{user}",
            summary="Kick-off with Client",
            start=start,
            end=start + timedelta(hours=1),
            organizer=organizer,
            attendees=[client],
        ),
        seed.build_event(
            uid=f"standup-{user}",
            summary="Team stand-up",
            start=start + timedelta(days=1),
            end=start + timedelta(days=1, minutes=15),
            organizer=organizer,
            attendees=[colleague],
        ),
    ]
    seed.put_events(stack.caldav_url, user, stack.imap_test_password, "work", events)


async def counts(mongo: Any, system: LocalSystem) -> dict[str, int]:
    db = mongo[f"{system.prefix}_timeline"]
    return {
        name: await db[name].count_documents({})
        for name in ("messages", "threads", "events", "people", "companies")
    }


async def test_external_mail_and_meetings_reach_the_right_timelines_exactly_once(
    system: LocalSystem, stack: Any, unique: str, mongo: Any
) -> None:
    mailbox = f"alice-{unique}@{OWN_DOMAIN}"
    client = f"jane-{unique}@mail.client.test"
    colleague = f"bob-{unique}@{OWN_DOMAIN}"
    seed_mailbox(stack, mailbox, client, colleague)
    seed_calendar(stack, mailbox, mailbox, client, colleague)

    system.start_all()
    system.wait_for_api()
    account, key = await connect(system, stack, mailbox, caldav_user=mailbox)
    sync_now(system, account, "mail")  # on top of the API's own request: a repeat is harmless
    sync_now(system, account, "calendar")

    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=system.api_url, headers=headers, timeout=10) as api:

        async def jane() -> Any:
            found = await api.get("/v1/people", params={"email": client.upper()})
            return found.json()["items"] if found.status_code == 200 else []

        # Calendar sync is quick: the meeting may create her first, named from her address;
        # the display name of the first mail that carries one then names her (SPEC).
        people = await eventually(
            jane, lambda items: len(items) == 1 and items[0]["name"] == "Jane Doe", system
        )
        person = people[0]

        async def threads(path: str) -> list[Any]:
            page = await api.get(path)
            assert page.status_code == 200, page.text
            return list(page.json()["items"])

        person_threads = await eventually(
            lambda: threads(f"/v1/people/{person['id']}/threads"),
            lambda items: len(items) == 1 and items[0]["message_count"] == 2,
            system,
        )
        thread = person_threads[0]
        assert thread["subject"] == "Proposal for Q1"

        company = (await api.get(f"/v1/companies/{person['company_id']}")).json()
        assert company["domains"] == ["client.test"]
        company_threads = await threads(f"/v1/companies/{company['id']}/threads")
        assert [t["id"] for t in company_threads] == [thread["id"]]

        conversation = (await api.get(f"/v1/threads/{thread['id']}")).json()
        assert [m["subject"] for m in conversation["messages"]] == [
            "Proposal for Q1",
            "Re: Proposal for Q1",
        ]

        events = await eventually(
            lambda: threads(f"/v1/people/{person['id']}/events"),
            lambda items: len(items) == 1,
            system,
        )
        assert events[0]["title"] == "Kick-off with Client"
        assert [e["id"] for e in await threads(f"/v1/companies/{company['id']}/events")] == [
            events[0]["id"]
        ]

        colleague_lookup = await api.get("/v1/people", params={"email": colleague})
        assert colleague_lookup.status_code == 200
        assert colleague_lookup.json()["items"] == [], "colleagues never become people"

    await wait_drained(system)
    first = await counts(mongo, system)
    assert first == {"messages": 2, "threads": 1, "events": 1, "people": 1, "companies": 1}

    # Sync everything again from scratch: the fetcher forgets its cursors and republishes
    # every message and meeting. Nothing may be duplicated anywhere.
    await mongo[f"{system.prefix}_fetcher"].drop_collection("imap_cursors")
    sync_now(system, account, "mail")
    sync_now(system, account, "calendar")
    await wait_drained(system)
    assert await counts(mongo, system) == first
    enricher_db = mongo[f"{system.prefix}_enricher"]
    assert await enricher_db["people"].count_documents({}) == 1
    assert await enricher_db["companies"].count_documents({}) == 1


async def test_a_service_killed_mid_stream_loses_and_duplicates_nothing(
    system: LocalSystem, stack: Any, unique: str, mongo: Any
) -> None:
    mailbox = f"carol-{unique}@{OWN_DOMAIN}"
    total = 300
    now = datetime.now(UTC)
    sent = [
        seed.build_message(
            message_id=f"m{i}-{unique}",
            sender=mailbox,
            to=[f"person{i}-{unique}@client.test"],
            subject=f"Hello {i}",
            body="Hi.",
            sent_at=now - timedelta(minutes=i),
        )
        for i in range(total)
    ]
    seed.append_messages(
        stack.imap_host, stack.imap_port, mailbox, stack.imap_test_password, "Sent", sent
    )
    # The enricher starts last, so a backlog is waiting for it on the matched topic.
    system.start_all(("fetcher", "matcher", "timeline-api"))
    system.wait_for_api()
    account, _ = await connect(system, stack, mailbox, caldav_user=None)
    sync_now(system, account, "mail")
    timeline = mongo[f"{system.prefix}_timeline"]
    system.start("enricher")

    progress = await eventually(
        lambda: timeline["messages"].count_documents({}), lambda n: n >= 1, system
    )
    system.stop("enricher", kill=True)  # a crash: no shutdown, no commit
    assert progress < total, "the enricher finished before the crash; the test proved nothing"

    system.start("enricher")
    await eventually(
        lambda: timeline["messages"].count_documents({}), lambda n: n >= total, system, within=180
    )
    await wait_drained(system, within=180)
    assert await timeline["messages"].count_documents({}) == total
    assert await timeline["people"].count_documents({}) == total
    assert await timeline["companies"].count_documents({}) == 1
    enricher_db = mongo[f"{system.prefix}_enricher"]
    assert await enricher_db["people"].count_documents({}) == total
    assert await enricher_db["people"].count_documents({"announced": False}) == 0
