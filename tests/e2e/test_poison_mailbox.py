"""End to end: a Dovecot mailbox holding the poison corpus among good mail (issue 18).

Every good message reaches the timeline, each poison one is synced or dropped with a
reason that ``explain`` answers, the account reaches ``up_to_date``, and mail appended
afterwards still arrives: one message's content never stops a mailbox.
"""

import imaplib
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from localsystem import LocalSystem

from crm_schemas.ids import message_item_id
from fetcher.domain.mime import fetched_message_id
from fetcher.domain.model import FetchedMessage
from tests.e2e.harness import eventually, timeline_settings
from tests.e2e.test_pipeline import sync_now
from tests.fixtures.poison import Poison, corpus, good_message

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

OWN_DOMAIN = "acme.test"
RECEIVED = datetime(2024, 3, 6, 9, 0, tzinfo=UTC)  # the INTERNALDATE every message gets
EXPLAINABLE_ID_CHARS = 998  # the explain API takes a Message-ID of one header line at most


def append(stack: Any, mailbox: str, messages: list[bytes]) -> None:
    """APPEND each message's bytes as they are to the INBOX, received at RECEIVED."""
    client = imaplib.IMAP4(stack.imap_host, stack.imap_port, timeout=60)
    try:
        client.login(mailbox, stack.imap_test_password)
        for raw in messages:
            typ, data = client.append("INBOX", "", RECEIVED, raw)
            assert typ == "OK", data
    finally:
        client.logout()


async def connect(system: LocalSystem, stack: Any, mailbox: str) -> tuple[str, str, str]:
    """The workspace, then the mailbox connected at visibility ``full`` (bodies and
    attachments are read too); returns the workspace id, the account id and the key."""
    from timeline_api.entrypoints.admin import bootstrap

    made = await bootstrap(timeline_settings(system), "Acme", [OWN_DOMAIN], admin_email=mailbox)
    body = {
        "email": mailbox,
        "imap": {
            "host": stack.imap_host,
            "port": stack.imap_port,
            "tls": "none",
            "username": mailbox,
            "password": stack.imap_test_password,
        },
        "mail": {"visibility": "full", "contact_creation": "sent_only"},
    }
    headers = {"Authorization": f"Bearer {made['api_key']}"}
    async with httpx.AsyncClient(base_url=system.api_url, headers=headers, timeout=30) as api:
        response = await api.post("/v1/accounts", json=body)
    assert response.status_code == 201, response.text
    return made["workspace_id"], response.json()["id"], made["api_key"]


def made_up_id(item: Poison) -> str:
    """The Message-ID the fetcher gives a message that has none."""
    return fetched_message_id(FetchedMessage(0, item.raw, internal_date=RECEIVED))


async def test_poison_among_good_mail_is_synced_or_dropped_with_a_reason_and_mail_keeps_coming(
    system: LocalSystem, stack: Any, unique: str, mongo: Any
) -> None:
    mailbox = f"poison-{unique}@{OWN_DOMAIN}"
    poison = corpus(unique, mailbox)
    goods = [good_message(unique, n, mailbox) for n in range(len(poison) // 3 + 2)]
    interleaved: list[bytes] = []
    for n, item in enumerate(poison):
        interleaved += [goods[n // 3][1]] if n % 3 == 0 else []
        interleaved.append(item.raw)
    append(stack, mailbox, [*interleaved, goods[-1][1]])

    system.start_all()
    system.wait_for_api()
    workspace_id, account, key = await connect(system, stack, mailbox)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=system.api_url, headers=headers, timeout=30) as api:

        async def explain(message_id: str) -> dict[str, Any]:
            answer = await api.get("/v1/messages/explain", params={"message_id": message_id})
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        async def mail_state() -> str:
            view = (await api.get(f"/v1/accounts/{account}")).json()
            return next(s["state"] for s in view["status"] if s["kind"] == "mail")

        async def stored(message_id: str) -> Any:
            messages = mongo[f"{system.prefix}_timeline"]["messages"]
            item_id = message_item_id(workspace_id, message_id)
            return await messages.find_one({"_id": item_id}, {"_id": 1})

        async def settled(message_id: str) -> dict[str, Any]:
            return await eventually(
                lambda: explain(message_id), lambda e: e["status"] != "never_seen", system, 180
            )

        await eventually(mail_state, lambda state: state == "up_to_date", system, 240)
        for message_id, _ in goods:
            assert (await settled(message_id))["status"] == "synced", message_id
        for item in poison:
            message_id = item.message_id or made_up_id(item)
            if len(message_id) > EXPLAINABLE_ID_CHARS:  # looked up where explain looks
                assert item.expect == "synced", item.name
                await eventually(
                    lambda m=message_id: stored(m), lambda doc: doc is not None, system, 180
                )
                continue
            answer = await settled(message_id)
            assert answer["status"] == item.expect, (item.name, answer)
            if item.expect == "dropped":
                assert answer["reason"] == item.reason, (item.name, answer)

        later_id, later = good_message(unique, 99, mailbox)
        append(stack, mailbox, [later])
        sync_now(system, account, "mail")
        assert (await settled(later_id))["status"] == "synced"
        assert await mail_state() == "up_to_date"
