"""``GET /v1/messages/explain``: synced and linked, dropped with its reason, or never seen."""

from typing import Any

import pytest

from crm_schemas.ids import company_id, message_item_id, person_id, thread_id
from crm_schemas.outcomes import DropReason, ItemDropped
from tests.integration.timeline_api.builders import company, mail, person
from tests.integration.timeline_api.conftest import Timeline, eventually

pytestmark = pytest.mark.integration

PATH = "/v1/messages/explain"


def _status(status: str) -> Any:
    return lambda body: body.get("status") == status


async def test_a_synced_message_is_explained_with_its_thread_and_linked_records(
    timeline: Timeline, unique: str
) -> None:
    ws, topics = f"ws-{unique}", timeline.settings.topics
    await timeline.login(ws)
    ann, client = person(ws, "Ann", "ann@client.test"), company(ws, "client.test")
    await timeline.publish(topics.records, ann.person_id, ann)
    await timeline.publish(topics.records, client.company_id, client)
    event = mail(ws, "Deal.1@Mail.Client.test")
    await timeline.publish(topics.timeline_messages, event.thread_id, event)

    body = await eventually(
        lambda: timeline.try_json(PATH, message_id="<Deal.1@mail.client.TEST>"),
        lambda b: (
            b.get("status") == "synced"
            # the person and the company travel on different partitions of the records topic
            and any(p.get("person_id") and p.get("company_id") for p in b.get("participants", []))
        ),
    )

    assert body["thread_id"] == thread_id(ws, "Deal.1@Mail.Client.test")
    linked = {p["email"]: p for p in body["participants"]}
    assert linked["ann@client.test"]["person_id"] == person_id(ws, "ann@client.test")
    assert linked["ann@client.test"]["company_id"] == company_id(ws, "client.test")
    assert linked["me@us.test"]["internal"] is True
    assert linked["me@us.test"].get("person_id") is None


async def test_a_dropped_message_is_explained_with_its_reason_and_rule(
    timeline: Timeline, unique: str
) -> None:
    ws, topics = f"ws-{unique}", timeline.settings.topics
    await timeline.login(ws)
    item = message_item_id(ws, "news-42@list.vendor.test")
    dropped = ItemDropped(
        item_id=item,
        workspace_id=ws,
        account_id="acc-a",
        kind="message",
        natural_id="news-42@list.vendor.test",
        reason=DropReason.GROUP_MAIL,
        rule="group_mail_signal",
        detail="List-Id",
    )
    await timeline.publish(topics.dropped, item, dropped)

    body = await eventually(
        lambda: timeline.try_json(PATH, message_id="news-42@list.vendor.test"),
        _status("dropped"),
    )

    assert (body["reason"], body["rule"], body["detail"]) == (
        "group_mail",
        "group_mail_signal",
        "List-Id",
    )
    assert body["dropped_at"]
    assert body["accounts"] == ["acc-a"]


async def test_a_message_nobody_fetched_is_never_seen(timeline: Timeline, unique: str) -> None:
    await timeline.login(f"ws-{unique}")
    body = await timeline.get_json(PATH, message_id="<nope@x.test>")
    assert body == {
        "status": "never_seen",
        "message_id": "nope@x.test",
        "item_id": message_item_id(f"ws-{unique}", "nope@x.test"),
    }


async def test_a_message_of_another_workspace_is_never_seen_here(
    timeline: Timeline, unique: str
) -> None:
    ws, topics = f"ws-{unique}", timeline.settings.topics
    await timeline.login(ws)
    event = mail(ws, "theirs@client.test")
    await timeline.publish(topics.timeline_messages, event.thread_id, event)
    await eventually(
        lambda: timeline.try_json(PATH, message_id="theirs@client.test"),
        _status("synced"),
    )
    await timeline.login(f"other-{unique}")
    other = await timeline.get_json(PATH, message_id="theirs@client.test")
    assert other["status"] == "never_seen"


@pytest.mark.parametrize(
    "params",
    [{}, {"message_id": ""}, {"message_id": "a b@c"}],
)
async def test_bad_input_is_a_problem(timeline: Timeline, params: dict[str, str]) -> None:
    await timeline.login("ws-bad-input")
    response = await timeline.client.get(PATH, params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 422
