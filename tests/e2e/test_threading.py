"""Threads join on any known reference, end to end: mail in two mailboxes of a workspace
whose references name ids that were never synced ends in one conversation, and a later
message that proves two conversations are one merges them, on the real Dovecot, Kafka and
FerretDB, through the four services."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import seed
from localsystem import LocalSystem

from crm_schemas.ids import thread_id
from tests.e2e.harness import connect_mailboxes, eventually
from tests.e2e.test_pipeline import sync_now

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

NOW = datetime.now(UTC).replace(microsecond=0)


def reply(own: str, sender: str, to: str, references: list[str], minutes: int) -> bytes:
    """A reply to the last of ``references``, naming them all."""
    return seed.build_message(
        message_id=own,
        sender=sender,
        to=[to],
        subject="Re: Pricing",
        body="Answer.",
        sent_at=NOW - timedelta(hours=5) + timedelta(minutes=minutes),
        headers={
            "In-Reply-To": f"<{references[-1]}>",
            "References": " ".join(f"<{r}>" for r in references),
        },
    )


async def test_mail_joins_on_any_known_reference_and_a_later_message_merges_two_threads(
    system: LocalSystem, stack: Any, unique: str
) -> None:
    alice, bob = f"alice-{unique}@acme.test", f"bob-{unique}@acme.test"
    jane = f"jane-{unique}@client.test"
    first, never_synced, other_root = (
        f"p1-{unique}@acme.test",
        f"a0-{unique}@client.test",  # the smallest id of all, and never synced
        f"q0-{unique}@client.test",
    )
    host, port, password = stack.imap_host, stack.imap_port, stack.imap_test_password
    proposal = seed.build_message(
        message_id=first,
        sender=alice,
        to=[jane],
        subject="Pricing",
        body="Our prices.",
        sent_at=NOW - timedelta(hours=5),
    )
    seed.append_messages(host, port, alice, password, "Sent", [proposal])
    # In bob's mailbox: an answer whose first reference is unknown, its In-Reply-To known.
    answer = reply(f"r1-{unique}@client.test", jane, bob, [never_synced, first], minutes=10)
    seed.append_messages(host, port, bob, password, "INBOX", [answer])
    # In alice's: a message answering only an id nobody has: alone, for now.
    lonely_id = f"c1-{unique}@client.test"
    lonely = reply(lonely_id, jane, alice, [other_root], minutes=20)
    seed.append_messages(host, port, alice, password, "INBOX", [lonely])

    system.start_all()
    system.wait_for_api()
    workspace, accounts, key = await connect_mailboxes(system, stack, alice, bob)
    for account in accounts:
        sync_now(system, account, "mail")
    joined, alone = thread_id(workspace, never_synced), thread_id(workspace, other_root)

    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=system.api_url, headers=headers, timeout=10) as api:

        async def janes_threads() -> dict[str, int]:
            found = await api.get("/v1/people", params={"email": jane})
            people = found.json().get("items", []) if found.status_code == 200 else []
            if not people:
                return {}
            page = await api.get(f"/v1/people/{people[0]['id']}/threads")
            return {t["id"]: t["message_count"] for t in page.json()["items"]}

        await eventually(janes_threads, lambda t: t == {joined: 2, alone: 1}, system)

        # A message naming both conversations proves they are one.
        bridge = reply(f"d1-{unique}@client.test", jane, bob, [other_root, first], minutes=30)
        seed.append_messages(host, port, bob, password, "INBOX", [bridge])
        sync_now(system, accounts[1], "mail")

        await eventually(janes_threads, lambda t: t == {joined: 4}, system)
        conversation = (await api.get(f"/v1/threads/{joined}")).json()
        assert [m["message_id"] for m in conversation["messages"]] == [
            first,
            f"r1-{unique}@client.test",
            lonely_id,
            f"d1-{unique}@client.test",
        ]
        assert (await api.get(f"/v1/threads/{alone}")).status_code == 404
        explained = await api.get("/v1/messages/explain", params={"message_id": lonely_id})
        assert explained.json()["thread_id"] == joined
