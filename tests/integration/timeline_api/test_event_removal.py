"""A meeting leaves the timeline when the last calendar that has it removes it."""

from typing import Any

import pytest

from crm_schemas.calendar import RawEventRemoved
from tests.integration.timeline_api.builders import meeting, person
from tests.integration.timeline_api.conftest import Timeline, eventually

pytestmark = pytest.mark.integration


def _count(n: int) -> Any:
    return lambda page: len(page.get("items", [None] * (n + 1))) == n


async def test_a_meeting_stays_while_a_teammates_calendar_still_has_it(
    timeline: Timeline, unique: str
) -> None:
    ws, topics = f"ws-{unique}", timeline.settings.topics
    await timeline.login(ws)
    eve = person(ws, "Eve", "eve@client.test")
    await timeline.publish(topics.records, eve.person_id, eve)
    mine = meeting(ws, "shared", attendees=("eve@client.test",))
    link = "https://meet.google.com/abc-defg-hij"
    mine = mine.model_copy(update={"event": mine.event.model_copy(update={"conference_url": link})})
    theirs = mine.model_copy(
        update={"event": mine.event.model_copy(update={"account_id": "acc-b"})}
    )
    key = mine.event.item_id
    for event in (mine, theirs):
        await timeline.publish(topics.timeline_events, key, event)
    path = f"/v1/people/{eve.person_id}/events"
    shown = await eventually(lambda: timeline.try_json(path), _count(1))
    assert shown["items"][0]["conference_url"] == link

    removal = RawEventRemoved(
        item_id=key, workspace_id=ws, account_id="acc-a", ical_uid="shared", reason="deleted"
    )
    await timeline.publish(topics.timeline_events, key, removal)
    await timeline.publish(
        topics.timeline_events, key, removal.model_copy(update={"account_id": "nobody"})
    )
    sources = await eventually(
        lambda: timeline.mongo[timeline.settings.mongo_db]["events"].find_one({"_id": key}),
        lambda doc: doc is not None and list(doc["sources"]) == ["acc-b"],
    )
    assert sources is not None

    await timeline.publish(
        topics.timeline_events, key, removal.model_copy(update={"account_id": "acc-b"})
    )
    await eventually(lambda: timeline.try_json(path), _count(0))
