"""Dead letters on the real Kafka and FerretDB: every service's dead letters are kept, a
workspace's admins list and re-drive their own through the API, operators every one with
``crm-admin deadletters``; a retry goes through the same handler, and re-driving what
made it changes nothing."""

import argparse
import json
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from tests.integration.timeline_api.builders import lost_in_an_outage, mail
from tests.integration.timeline_api.conftest import Timeline, eventually
from timeline_api.domain.access import Role
from timeline_api.entrypoints import admin_deadletters

pytestmark = pytest.mark.integration


async def test_an_admin_lists_the_workspaces_dead_letters_and_a_retry_puts_the_mail_on_the_timeline(
    timeline: Timeline, unique: str
) -> None:
    ws, topics = f"ws-{unique}", timeline.settings.topics
    event = mail(ws, f"lost-{unique}@x", subject=f"Lost lost-{unique}@x")
    letter = lost_in_an_outage(event, topics.timeline_messages, 2, 11)
    other = mail(f"{ws}-other", f"other-{unique}@x")
    theirs = lost_in_an_outage(other, topics.timeline_messages, 2, 12)
    for dead in (letter, theirs):
        await timeline.publish(topics.dead_letter, dead.key or "", dead)
    await timeline.login(ws)
    letter_id = f"{topics.timeline_messages}:2:11"

    listed = await eventually(
        lambda: timeline.try_json("/v1/deadletters"), lambda b: bool(b.get("items"))
    )
    shown = await timeline.get_json(f"/v1/deadletters/{letter_id}")
    retried = await timeline.client.post("/v1/deadletters/retry", json={})

    assert [x["id"] for x in listed["items"]] == [letter_id]
    assert listed["items"][0]["error_type"] == "KafkaConnectionError"
    assert listed["counts"] == [
        {"source_topic": topics.timeline_messages, "error_type": "KafkaConnectionError", "count": 1}
    ]
    assert f"lost-{unique}@x" in shown["payload"]
    assert retried.status_code == 200, retried.text
    assert retried.json() == {"retried": [letter_id], "refused": [], "more": False}
    thread = await eventually(
        lambda: timeline.try_json(f"/v1/threads/{event.thread_id}"), lambda b: bool(b)
    )
    assert thread["subject"] == f"Lost lost-{unique}@x"
    after = await timeline.get_json("/v1/deadletters")
    assert after["items"][0]["retried_at"] is not None
    assert after["items"][0]["retried_by"].startswith("member:")
    again = await timeline.client.post("/v1/deadletters/retry", json={"ids": [letter_id]})
    assert again.json()["retried"] == []
    # a retried dead letter delivered again stays retried
    await timeline.publish(topics.dead_letter, letter.key or "", letter)
    pending = await timeline.get_json("/v1/deadletters", pending="true")
    assert pending["items"] == []
    await timeline.login(ws, "member@us.test", Role.MEMBER)
    assert (await timeline.client.get("/v1/deadletters")).status_code == 403


def _args(**given: Any) -> argparse.Namespace:
    values = {"topic": None, "since": None, "error_type": None, "workspace": None}
    return argparse.Namespace(**(values | given))


async def test_an_operator_re_drives_a_message_that_breaks_its_contract_and_it_fails_again(
    timeline: Timeline, unique: str
) -> None:
    topics = timeline.settings.topics
    producer = AIOKafkaProducer(bootstrap_servers=timeline.settings.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.timeline_messages, b"{not json", key=b"t-1")
    finally:
        await producer.stop()

    async def listing() -> dict[str, Any]:
        args = _args(action="list", pending=False, limit=50)
        return dict(json.loads(await admin_deadletters.run(args, timeline.settings)))

    first = await eventually(listing, lambda b: len(b["items"]) == 1)
    [dead] = first["items"]
    retried = await admin_deadletters.run(
        _args(action="retry", letter_ids=[], topic=topics.timeline_messages), timeline.settings
    )
    both = await eventually(listing, lambda b: len(b["items"]) == 2)

    assert dead["error_type"] == "ValidationError"
    assert dead["workspace_id"] is None
    assert json.loads(retried) == {"retried": [dead["id"]], "refused": [], "more": False}
    newest, oldest = both["items"]
    assert oldest["id"] == dead["id"]
    assert oldest["retried_by"] == "crm-admin"
    assert newest["retried_at"] is None  # failed again: a new dead letter, pending
    assert both["counts"] == [
        {"source_topic": topics.timeline_messages, "error_type": "ValidationError", "count": 2}
    ]
