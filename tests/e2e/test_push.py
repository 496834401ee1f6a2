"""End to end for push: Google and Microsoft accounts stay current without a scheduler.

The four services run as processes (no scheduler). Each account's first sync (as
connecting queues it) subscribes at the emulated providers; from then on a new message
or event is notified to the timeline API (Gmail through an emulated Pub/Sub push with a
signed OIDC token, Google Calendar through its channel, Graph through its subscription),
which queues a push sync, and the item reaches the timeline. A disconnect deletes the
subscriptions at the providers.
"""

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from localsystem import LocalSystem
from pydantic import SecretStr

from crm_runtime.secrets import SecretBox
from crm_schemas.config import AccountConfigured, OAuthConnection, OAuthProvider
from tests.e2e.harness import eventually, queue_sync, timeline_settings
from tests.e2e.test_provider_accounts import graph_fields
from tests.emulators.push_setup import PushProviders, push_providers

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

OWN_DOMAIN = "acme.test"


@pytest.fixture
def providers(tmp_path: Path, system: LocalSystem) -> Iterator[PushProviders]:
    with push_providers(tmp_path) as found:
        found.deliver_gmail_to(system.api_url)
        yield found


def mail(sender: str, to: str, subject: str) -> bytes:
    now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    return (
        f"From: {sender}\nTo: {to}\nSubject: {subject}\n"
        f"Message-ID: <{subject.replace(' ', '-')}@client.test>\nDate: {now}\n\nHello\n"
    ).encode()


def google_event(owner: str, guest: str, title: str) -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(days=1)
    return {
        "iCalUID": f"{title.replace(' ', '-')}@google.com",
        "summary": title,
        "start": {"dateTime": start.isoformat()},
        "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
        "organizer": {"email": owner},
        "attendees": [
            {"email": owner, "responseStatus": "accepted", "self": True},
            {"email": guest, "responseStatus": "needsAction"},
        ],
    }


def graph_event(owner: str, guest: str, title: str) -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(days=1)
    fmt = "%Y-%m-%dT%H:%M:%S.0000000"
    return {
        "iCalUId": title.replace(" ", "-"),
        "subject": title,
        "type": "singleInstance",
        "start": {"dateTime": start.strftime(fmt), "timeZone": "UTC"},
        "end": {"dateTime": (start + timedelta(hours=1)).strftime(fmt), "timeZone": "UTC"},
        "organizer": {"emailAddress": {"address": owner}},
        "attendees": [
            {"type": "required", "status": {"response": "none"}, "emailAddress": {"address": guest}}
        ],
        "sensitivity": "normal",
    }


async def connect(
    system: LocalSystem, p: PushProviders
) -> tuple[str, dict[str, AccountConfigured]]:
    """A workspace, an admin's key, and a Google and a Microsoft account, each first
    synced as connecting does (both kinds queued once)."""
    from timeline_api.entrypoints.admin import add_member, create_workspace, save_account

    settings = timeline_settings(system)
    ws = await create_workspace(settings, name="Acme", domains=[OWN_DOMAIN])
    key = (await add_member(settings, ws, f"admin@{OWN_DOMAIN}", role="admin"))["api_key"]
    box = SecretBox(SecretStr(os.environ["TIMELINE_SECRETS_KEY"]))
    accounts = {}
    for owner, provider, authority in (
        (f"alice@{OWN_DOMAIN}", OAuthProvider.GOOGLE, p.gmail.authority),
        (f"bob@{OWN_DOMAIN}", OAuthProvider.MICROSOFT, p.graph.authority),
    ):
        account = AccountConfigured(
            account_id=f"acc-{owner}",
            workspace_id=ws,
            owner_member_id=f"m-{owner}",
            email=owner,
            oauth=OAuthConnection(
                provider=provider, refresh_token_encrypted=box.seal(authority.consent(owner))
            ),
        )
        await save_account(settings, account)
        accounts[provider] = account
        await queue_sync(system, account.account_id)  # both kinds, as connecting does
    return key, accounts


async def test_new_mail_and_meetings_reach_the_timeline_by_push_and_a_disconnect_unsubscribes(
    system: LocalSystem, providers: PushProviders
):
    p = providers
    system.extra_env.update(p.env(system.api_url))
    system.start_all()  # no scheduler: nothing polls
    system.wait_for_api()
    key, accounts = await connect(system, p)
    alice, bob = (accounts[OAuthProvider.GOOGLE].email, accounts[OAuthProvider.MICROSOFT].email)

    async with httpx.AsyncClient(
        base_url=system.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as api:

        async def statuses() -> list[dict[str, Any]]:
            answer = await api.get("/v1/accounts")
            return [s for a in answer.json() for s in a["status"]] if answer.is_success else []

        def all_active(found: list[dict[str, Any]]) -> bool:
            return len(found) == 4 and all((s.get("push") or {}).get("active") for s in found)

        await eventually(statuses, all_active, system, within=180)
        assert p.gmail.mailbox(alice).watch is not None
        assert len(p.gmail.calendar.live_channels(alice)) == 1
        assert len(p.graph.live_subscriptions(bob)) == 2

        # New mail and new meetings, after the first sync: only push brings them. The
        # owners write (people are made for those they write to, by default).
        p.gmail.deliver(
            alice, mail(alice, "Jane <jane@client.test>", "Pushed from Gmail"), ("SENT",)
        )
        p.graph.deliver(
            bob, "sentitems", graph_fields(mail(bob, "Ken <ken@other.test>", "By Graph"))
        )
        p.gmail.calendar.add(alice, google_event(alice, "gia@guests.test", "Google sync-up"))
        p.graph.add_event(bob, graph_event(bob, "gus@guests.test", "Graph sync-up"))

        async def person(address: str) -> str | None:
            found = await api.get("/v1/people", params={"email": address})
            items = found.json()["items"] if found.is_success else []
            return str(items[0]["id"]) if items else None

        for address, tab, title in (
            ("jane@client.test", "threads", "Pushed from Gmail"),
            ("ken@other.test", "threads", "By Graph"),
            ("gia@guests.test", "events", "Google sync-up"),
            ("gus@guests.test", "events", "Graph sync-up"),
        ):
            person_id = await eventually(
                lambda a=address: person(a), lambda found: found is not None, system, 120
            )

            async def rows(path: str = f"/v1/people/{person_id}/{tab}") -> list[Any]:
                page = await api.get(path)
                return list(page.json()["items"]) if page.is_success else []

            (row,) = await eventually(rows, lambda items: len(items) == 1, system, 120)
            assert title in str(row)

        # Disconnecting deletes the subscriptions at the providers.
        for account in accounts.values():
            gone = await api.delete(f"/v1/accounts/{account.account_id}")
            assert gone.status_code == 204, gone.text

        async def left() -> tuple[bool, int, int]:
            watch = p.gmail.mailbox(alice).watch is not None
            channels = len(p.gmail.calendar.live_channels(alice))
            return watch, channels, len(p.graph.live_subscriptions(bob))

        await eventually(left, lambda found: found == (False, 0, 0), system, 120)
