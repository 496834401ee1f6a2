"""Visibility is enforced on the server, per message source, for two real members.

The mailbox owner sees everything; a teammate sees metadata, subject or full, as the
owner chose for that mailbox, on the threads tab and in the conversation alike.
"""

import pytest

from tests.integration.timeline_api.builders import mail, meeting, person
from tests.integration.timeline_api.conftest import Timeline, eventually
from timeline_api.domain.access import Member, Role

pytestmark = pytest.mark.integration


async def _keys(timeline: Timeline, ws: str) -> tuple[dict[str, str], dict[str, str]]:
    """API headers of the mailbox owner (the builders' ``member-acc-a``) and a teammate."""
    await timeline.key_for(ws, "teammate@us.test", Role.MEMBER)  # makes the workspace
    owner = Member("member-acc-a", ws, "me@us.test", "Me", Role.MEMBER)
    await timeline.directory.save_member(owner)
    owner_key = await timeline.directory.issue_key(owner)
    _, teammate_key = await timeline.key_for(ws, "teammate@us.test", Role.MEMBER)
    return {"Authorization": f"Bearer {owner_key}"}, {"Authorization": f"Bearer {teammate_key}"}


@pytest.mark.parametrize(
    ("visibility", "subject_shown", "body_shown"),
    [("metadata", False, False), ("subject", True, False), ("full", True, True)],
)
async def test_a_teammate_sees_what_the_owner_shares_and_the_owner_sees_everything(
    timeline: Timeline, unique: str, visibility: str, subject_shown: bool, body_shown: bool
) -> None:
    ws, topics = f"ws-{unique}", timeline.settings.topics
    owner, teammate = await _keys(timeline, ws)
    ann = person(ws, "Ann", "ann@client.test")
    message = mail(ws, f"v-{visibility}@x", subject="Pricing", visibility=visibility)
    await timeline.publish(topics.records, ann.person_id, ann)
    await timeline.publish(topics.timeline_messages, message.thread_id, message)
    path = f"/v1/people/{ann.person_id}/threads"

    async def page(headers: dict[str, str]) -> dict[str, object]:
        response = await timeline.client.get(path, headers=headers)
        return response.json() if response.status_code == 200 else {}

    mine = await eventually(lambda: page(owner), lambda p: bool(p.get("items")))
    theirs = await page(teammate)
    detail_mine = await timeline.client.get(f"/v1/threads/{message.thread_id}", headers=owner)
    detail_theirs = await timeline.client.get(f"/v1/threads/{message.thread_id}", headers=teammate)

    [row_mine], [row_theirs] = mine["items"], theirs["items"]  # type: ignore[misc]
    assert row_mine["subject"] == "Pricing"
    assert row_mine["visibility"] == "full"
    assert row_theirs["subject"] == ("Pricing" if subject_shown else None)
    assert row_theirs["visibility"] == visibility
    [msg_mine] = detail_mine.json()["messages"]
    [msg_theirs] = detail_theirs.json()["messages"]
    assert msg_mine["body_text"] == f"body of v-{visibility}@x"
    assert msg_theirs["body_text"] == (f"body of v-{visibility}@x" if body_shown else None)
    assert msg_theirs["participants"] == msg_mine["participants"]  # metadata is always shared
    assert msg_theirs["sent_at"] == msg_mine["sent_at"]


async def test_a_metadata_calendar_shows_a_teammate_only_times_and_participants(
    timeline: Timeline, unique: str
) -> None:
    ws, topics = f"ws-{unique}", timeline.settings.topics
    owner, teammate = await _keys(timeline, ws)
    ann = person(ws, "Ann", "ann@client.test")
    event = meeting(ws, "board", attendees=("ann@client.test",), visibility="metadata")
    await timeline.publish(topics.records, ann.person_id, ann)
    await timeline.publish(topics.timeline_events, event.event.item_id, event)
    path = f"/v1/people/{ann.person_id}/events"

    async def items(headers: dict[str, str]) -> list[dict[str, object]]:
        response = await timeline.client.get(path, headers=headers)
        return list(response.json()["items"]) if response.status_code == 200 else []

    [mine] = await eventually(lambda: items(owner), bool)
    [theirs] = await items(teammate)

    assert (mine["title"], mine["location"]) == ("Meeting board", "Room 1")
    assert (theirs["title"], theirs["location"]) == (None, None)
    assert (theirs["starts_at"], theirs["ends_at"]) == (mine["starts_at"], mine["ends_at"])
    assert theirs["participants"] == mine["participants"]
