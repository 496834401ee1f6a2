"""End to end for API accounts: the Gmail and Graph emulators -> the four services -> HTTP.

One Google and one Microsoft account in one workspace, configured as the OAuth callback
will (AccountConfigured with ``oauth`` on the config topic); the fetcher worker reads
them through the provider modules and the rest of the pipeline is unchanged.
"""

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import seed
import trustme
from localsystem import LocalSystem
from pydantic import SecretStr

from crm_runtime.secrets import SecretBox
from crm_schemas.config import AccountConfigured, OAuthConnection, OAuthProvider
from tests.e2e.harness import eventually, queue_sync, timeline_settings, wait_drained
from tests.emulators.gmail import GmailEmulator
from tests.emulators.graph import GraphEmulator
from tests.emulators.oauth import TokenAuthority
from tests.emulators.server import EmulatorServer

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

OWN_DOMAIN = "acme.test"
CLIENT_ID, CLIENT_SECRET = "crm-e2e-client", "e2e-secret"


def thread(owner: str, client: str, tag: str) -> tuple[bytes, bytes, bytes]:
    """A proposal the owner sent, the client's reply, and an internal note."""
    now = datetime.now(UTC)
    proposal = seed.build_message(
        message_id=f"proposal-{tag}",
        sender=owner,
        to=[f"Client <{client}>"],
        subject=f"Proposal {tag}",
        body="Our proposal.",
        sent_at=now - timedelta(hours=3),
    )
    reply = seed.build_message(
        message_id=f"reply-{tag}",
        sender=f"Client <{client}>",
        to=[owner],
        subject=f"Re: Proposal {tag}",
        body="Looks good.",
        sent_at=now - timedelta(hours=2),
        in_reply_to=f"proposal-{tag}",
    )
    note = seed.build_message(
        message_id=f"note-{tag}",
        sender=f"colleague@{OWN_DOMAIN}",
        to=[owner],
        subject="Lunch?",
        body="Internal.",
        sent_at=now - timedelta(hours=1),
    )
    return proposal, reply, note


def graph_fields(raw: bytes) -> dict[str, Any]:
    """A Graph message resource made from RFC 5322 bytes (Graph's view of the same mail)."""
    import email
    import email.policy
    from email.utils import getaddresses, parsedate_to_datetime

    parsed = email.message_from_bytes(raw, policy=email.policy.default)

    def recipients(name: str) -> list[dict[str, Any]]:
        return [
            {"emailAddress": {"name": n, "address": a}}
            for n, a in getaddresses([str(parsed.get(name, ""))])
            if a
        ]

    sent = parsedate_to_datetime(str(parsed["Date"])).astimezone(UTC)
    return {
        "internetMessageId": str(parsed["Message-ID"]),
        "subject": str(parsed["Subject"]),
        "from": recipients("From")[0],
        "sender": recipients("From")[0],
        "toRecipients": recipients("To"),
        "sentDateTime": sent.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "receivedDateTime": sent.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "internetMessageHeaders": [{"name": k, "value": str(v)} for k, v in parsed.items()],
    }


async def configure(system: LocalSystem, account: AccountConfigured) -> None:
    from timeline_api.entrypoints.admin import save_account

    settings = timeline_settings(system)
    await save_account(settings, account)


async def workspace(system: LocalSystem) -> tuple[str, str]:
    """The workspace, and an API key of one of its members to read the timelines with."""
    from timeline_api.entrypoints.admin import add_member, create_workspace

    settings = timeline_settings(system)
    ws = await create_workspace(settings, name="Acme", domains=[OWN_DOMAIN])
    return ws, (await add_member(settings, ws, f"reader@{OWN_DOMAIN}"))["api_key"]


async def test_a_google_and_a_microsoft_account_reach_the_timelines_exactly_once(
    system: LocalSystem, unique: str, mongo: Any, tmp_path: Path
) -> None:
    ca = trustme.CA()
    ca_file, cert_file = tmp_path / "ca.pem", tmp_path / "server.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    google, microsoft = (
        TokenAuthority(CLIENT_ID, CLIENT_SECRET),
        TokenAuthority(CLIENT_ID, CLIENT_SECRET),
    )
    gmail, graph = GmailEmulator(google), GraphEmulator(microsoft)
    alice, bob = f"alice-{unique}@{OWN_DOMAIN}", f"bob-{unique}@{OWN_DOMAIN}"
    jane, ken = f"jane-{unique}@client.test", f"ken-{unique}@other.test"

    proposal, reply, note = thread(alice, jane, f"g-{unique}")
    gmail.deliver(alice, proposal, ("SENT",))
    gmail.deliver(alice, reply, ("INBOX",))
    gmail.deliver(alice, note, ("INBOX",))
    gmail.deliver(
        alice,
        thread(alice, "deals@shop.test", f"promo-{unique}")[1],
        ("INBOX", "CATEGORY_PROMOTIONS"),
    )
    proposal, reply, note = thread(bob, ken, f"m-{unique}")
    graph.deliver(bob, "sentitems", graph_fields(proposal))
    graph.deliver(bob, "inbox", graph_fields(reply))
    graph.deliver(bob, "inbox", graph_fields(note))

    with (
        EmulatorServer(gmail) as g,
        EmulatorServer(graph, certfile=str(cert_file), keyfile=str(cert_file)) as m,
    ):
        graph.base_url = m.base_url
        system.extra_env.update(
            {
                "FETCHER_GOOGLE_CLIENT_ID": CLIENT_ID,
                "FETCHER_GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
                "FETCHER_GOOGLE_TOKEN_URI": f"{g.base_url}/token",
                "FETCHER_GMAIL_API_URL": g.base_url,
                "FETCHER_MICROSOFT_CLIENT_ID": CLIENT_ID,
                "FETCHER_MICROSOFT_CLIENT_SECRET": CLIENT_SECRET,
                "FETCHER_MICROSOFT_AUTHORITY": f"{m.base_url}/common",
                "FETCHER_GRAPH_API_URL": f"{m.base_url}/v1.0",
                "FETCHER_PROVIDER_CA_FILE": str(ca_file),
            }
        )
        system.start_all()
        system.wait_for_api()
        ws, key = await workspace(system)
        box = SecretBox(SecretStr(os.environ["TIMELINE_SECRETS_KEY"]))
        accounts = []
        for owner, provider, authority in (
            (alice, OAuthProvider.GOOGLE, google),
            (bob, OAuthProvider.MICROSOFT, microsoft),
        ):
            account = AccountConfigured(
                account_id=f"acc-{owner}",
                workspace_id=ws,
                owner_member_id=f"m-{owner}",
                email=owner,
                oauth=OAuthConnection(
                    provider=provider,
                    subject=owner,
                    refresh_token_encrypted=box.seal(authority.consent(owner)),
                ),
            )
            await configure(system, account)
            accounts.append(account.account_id)
        for account_id in accounts:
            await queue_sync(system, account_id, "mail")

        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=system.api_url, headers=headers, timeout=10) as api:
            for client, subject in ((jane, f"Proposal g-{unique}"), (ken, f"Proposal m-{unique}")):

                async def person(address: str = client) -> list[Any]:
                    found = await api.get("/v1/people", params={"email": address})
                    return found.json()["items"] if found.status_code == 200 else []

                (found,) = await eventually(
                    person, lambda items: len(items) == 1, system, within=240
                )

                async def threads(person_id: str = found["id"]) -> list[Any]:
                    page = await api.get(f"/v1/people/{person_id}/threads")
                    return list(page.json()["items"]) if page.status_code == 200 else []

                (only,) = await eventually(
                    threads,
                    lambda items: len(items) == 1 and items[0]["message_count"] == 2,
                    system,
                    within=240,
                )
                assert only["subject"] == subject
            promo = await api.get("/v1/people", params={"email": "deals@shop.test"})
            assert promo.json()["items"] == []

        await wait_drained(system, within=240)
        db = mongo[f"{system.prefix}_timeline"]
        counts = {n: await db[n].count_documents({}) for n in ("messages", "threads", "people")}
        assert counts == {"messages": 4, "threads": 2, "people": 2}
        assert max(gmail.mailbox(alice).gets.values()) == 1
        assert max(graph.mailbox(bob).gets.values()) == 1
