"""A record's Calendar tab on real Kafka and FerretDB: keyset pages, upcoming meetings."""

from typing import Any

import pytest

from tests.integration.timeline_api.builders import at, company, meeting, person
from tests.integration.timeline_api.conftest import Timeline, eventually

pytestmark = pytest.mark.integration


async def test_meetings_page_by_cursor_and_upcoming_ones_come_from_a_start(
    timeline: Timeline, unique: str
) -> None:
    ws, topics = f"ws-{unique}", timeline.settings.topics
    await timeline.login(ws)
    fay, client = person(ws, "Fay", "fay@client.test"), company(ws, "client.test")
    await timeline.publish(topics.records, fay.person_id, fay)
    await timeline.publish(topics.records, client.company_id, client)
    for n in range(5):  # a day apart; two share a start, so the id breaks the tie
        event = meeting(ws, f"p{n}", minutes=60 * 24 * min(n, 3), attendees=("fay@client.test",))
        linked = tuple(
            p.model_copy(update={"person_id": fay.person_id, "company_id": client.company_id})
            if p.email == "fay@client.test"
            else p
            for p in event.participants
        )
        event = event.model_copy(update={"participants": linked})
        await timeline.publish(topics.timeline_events, event.event.item_id, event)
    path = f"/v1/people/{fay.person_id}/events"
    everything = await eventually(
        lambda: timeline.try_json(path), lambda p: len(p.get("items", [])) == 5
    )

    seen: list[dict[str, Any]] = []
    page = await timeline.get_json(path, limit=2)
    while True:
        seen.extend(page["items"])
        if page["next_cursor"] is None:
            break
        page = await timeline.get_json(path, limit=2, cursor=page["next_cursor"])
    assert [e["id"] for e in seen] == [e["id"] for e in everything["items"]]
    assert len({e["id"] for e in seen}) == 5
    starts = [e["starts_at"] for e in seen]
    assert starts == sorted(starts, reverse=True)

    upcoming = await timeline.get_json(path, order="asc", **{"from": at(60 * 24 * 2).isoformat()})
    titles = [e["title"] for e in upcoming["items"]]
    assert (titles[0], sorted(titles[1:])) == ("Meeting p2", ["Meeting p3", "Meeting p4"])
    first = upcoming["items"][0]
    assert (first["duration_minutes"], first["ends_at"] > first["starts_at"]) == (30, True)
    (fay_there,) = [p for p in first["participants"] if p["email"] == "fay@client.test"]
    assert (fay_there["person_id"], fay_there["company_id"]) == (fay.person_id, client.company_id)
    assert fay_there["roles"] == ["attendee"]
