""" "Why isn't this email here?" for mail that was never fetched, end to end: explain asks
the member's mailboxes through the fetcher (real Dovecot, Kafka, FerretDB, processes) and
answers where the message is and why it is not synced there."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import seed
from localsystem import LocalSystem

from tests.e2e.harness import connect_mailboxes, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


async def test_explain_says_a_message_never_fetched_is_in_junk_or_in_no_mailbox(
    system: LocalSystem, stack: Any, unique: str
) -> None:
    alice = f"alice-{unique}@acme.test"
    spam = f"offer-{unique}@client.test"
    junk = seed.build_message(
        message_id=spam,
        sender=f"jane-{unique}@client.test",
        to=[alice],
        subject="An offer",
        body="Buy now.",
        sent_at=datetime.now(UTC) - timedelta(hours=1),
    )
    host, port, password = stack.imap_host, stack.imap_port, stack.imap_test_password
    seed.append_messages(host, port, alice, password, "Junk", [junk])
    system.extra_env["TIMELINE_LOOKUP_WAIT_S"] = "1"
    system.start_all(("fetcher", "timeline-api"))  # nothing else: the message is never synced
    system.wait_for_api()
    _, _, key = await connect_mailboxes(system, stack, alice)

    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=system.api_url, headers=headers, timeout=20) as api:

        async def explained(message_id: str) -> dict[str, Any]:
            """Explain, then the lookup's Location while it says 'searching'."""
            first = await api.get("/v1/messages/explain", params={"message_id": message_id})
            assert first.status_code in (200, 202), first.text
            if first.status_code == 200:
                return dict(first.json())
            assert first.json()["status"] == "searching"
            location = first.headers["Location"]
            return await eventually(
                lambda: _json(api, location), lambda b: b.get("status") == "never_seen", system
            )

        in_junk = await explained(f"<{spam}>")
        nowhere = await explained(f"nowhere-{unique}@client.test")

    assert in_junk["status"] == "never_seen"
    assert in_junk["search"]["answer"] == (
        f"It is in Junk of {alice}, which this account does not sync"
        " (spam, trash and drafts are never synced)."
    )
    [mailbox] = in_junk["search"]["mailboxes"]
    assert mailbox["places"] == [
        {
            "folder": "Junk",
            "folder_role": "junk",
            "synced": False,
            "not_synced_because": "junk_trash_drafts",
        }
    ]
    assert nowhere["search"]["answer"] == "It is not in any connected mailbox."


async def _json(api: httpx.AsyncClient, path: str) -> dict[str, Any]:
    response = await api.get(path)
    return dict(response.json()) if response.status_code in (200, 202) else {}
