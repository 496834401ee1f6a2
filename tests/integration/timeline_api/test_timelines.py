"""The timeline API on real Kafka and FerretDB: events in, timelines out."""

from typing import Any

import pytest

from crm_schemas.base import utcnow
from crm_schemas.ids import thread_id
from tests.integration.timeline_api.builders import at, company, mail, meeting, person
from tests.integration.timeline_api.conftest import Timeline, eventually

pytestmark = pytest.mark.integration

Json = dict[str, Any]


def _count(n: int) -> Any:
    return lambda page: len(page.get("items", [])) >= n


async def test_a_persons_threads_are_newest_first_and_paginated(
    timeline: Timeline, unique: str
) -> None:
    ws, topics = f"ws-{unique}", timeline.settings.topics
    await timeline.login(ws)
    ann = person(ws, "Ann", "ann@client.test", "Ann.Other@Client-Alt.test")
    await timeline.publish(topics.records, ann.person_id, ann)
    for event in (
        mail(ws, "m1@x", minutes=0, subject="Pricing"),
        mail(ws, "m2@x", minutes=60, subject="Lunch", to=("ann.other@client-alt.test",)),
        mail(ws, "m3@x", root="m1@x", minutes=120, subject="Re: Pricing"),
    ):
        await timeline.publish(topics.timeline_messages, event.message.item_id, event)
    path = f"/v1/people/{ann.person_id}/threads"

    page = await eventually(
        lambda: timeline.try_json(path),
        lambda p: [t["message_count"] for t in p.get("items", [])] == [2, 1],
    )

    assert [t["subject"] for t in page["items"]] == ["Pricing", "Lunch"]
    assert page["items"][0]["last_activity"].startswith(at(120).isoformat()[:19])
    assert page["next_cursor"] is None
    first = await timeline.get_json(path, limit=1)
    assert [t["subject"] for t in first["items"]] == ["Pricing"]
    assert first["next_cursor"]
    second = await timeline.get_json(path, limit=1, cursor=first["next_cursor"])
    assert [t["subject"] for t in second["items"]] == ["Lunch"]
    assert second["next_cursor"] is None


async def test_a_companys_threads_include_its_domain_and_the_thread_reads_oldest_first(
    timeline: Timeline, unique: str
) -> None:
    ws, topics = f"ws-{unique}", timeline.settings.topics
    await timeline.login(ws)
    client = company(ws, "client.test")
    await timeline.publish(topics.records, client.company_id, client)
    first = mail(ws, "c1@x", minutes=0, to=("bob@client.test",), subject="Intro")
    reply = mail(ws, "c2@x", root="c1@x", minutes=5, to=("bob@client.test",), subject="Re: Intro")
    for event in (reply, first):  # arrival order is not conversation order
        await timeline.publish(topics.timeline_messages, event.message.item_id, event)

    page = await eventually(
        lambda: timeline.try_json(f"/v1/companies/{client.company_id}/threads"),
        lambda p: [t["message_count"] for t in p.get("items", [])] == [2],
    )
    found = await timeline.get_json("/v1/companies", domain="CLIENT.test")
    assert [c["id"] for c in found["items"]] == [client.company_id]

    detail = await timeline.get_json(f"/v1/threads/{page['items'][0]['id']}")
    assert [m["subject"] for m in detail["messages"]] == ["Intro", "Re: Intro"]
    assert [p["email"] for p in detail["messages"][0]["participants"]] == [
        "me@us.test",
        "bob@client.test",
    ]
    assert detail["messages"][0]["body_text"] == "body of c1@x"


async def test_a_companys_threads_follow_its_people_to_other_addresses_and_away(
    timeline: Timeline, unique: str
) -> None:
    ws, topics = f"ws-{unique}", timeline.settings.topics
    await timeline.login(ws)
    client, other = company(ws, "client.test"), company(ws, "other.test")
    # Fay is Client's, also at a personal address: mail there is on Client's tab.
    fay = person(ws, "Fay", "fay@client.test", "fay.private@mail.test")
    for record_id, record in (
        (client.company_id, client),
        (other.company_id, other),
        (fay.person_id, fay),
    ):
        await timeline.publish(topics.records, record_id, record)
    private = mail(ws, "p1@x", to=("fay.private@mail.test",), subject="Private line")
    await timeline.publish(topics.timeline_messages, private.message.item_id, private)
    path = f"/v1/companies/{client.company_id}/threads"

    await eventually(
        lambda: timeline.try_json(path),
        lambda p: [t["subject"] for t in p.get("items", [])] == ["Private line"],
    )

    # She moves to Other: her personal address's mail leaves Client's tab; a replay of
    # her older version does not bring it back.
    moved = fay.model_copy(update={"company_id": other.company_id, "updated_at": utcnow()})
    for version in (moved, fay):
        await timeline.publish(topics.records, fay.person_id, version)
    await eventually(lambda: timeline.try_json(path), lambda p: p.get("items") == [])
    theirs = await timeline.get_json(f"/v1/companies/{other.company_id}/threads")
    assert [t["subject"] for t in theirs["items"]] == ["Private line"]
    await timeline.publish(topics.records, moved.person_id, moved)  # a redelivery
    assert (await timeline.get_json(path))["items"] == []


@pytest.mark.parametrize("settings", [{"read_model": "indexed"}], indirect=True)
async def test_the_indexed_read_model_serves_the_same_tabs_without_heads(
    timeline: Timeline, unique: str
) -> None:
    ws, topics = f"ws-{unique}", timeline.settings.topics
    await timeline.login(ws)
    client = company(ws, "client.test")
    fay = person(ws, "Fay", "fay@client.test", "fay.private@mail.test")
    for record_id, record in ((client.company_id, client), (fay.person_id, fay)):
        await timeline.publish(topics.records, record_id, record)
    for event in (
        mail(ws, "i1@x", to=("fay.private@mail.test",), subject="Private line"),
        mail(ws, "i2@x", minutes=5, to=("bob@client.test",), subject="Intro"),
    ):
        await timeline.publish(topics.timeline_messages, event.message.item_id, event)
    path = f"/v1/companies/{client.company_id}/threads"

    await eventually(lambda: timeline.try_json(path), lambda p: len(p.get("items", [])) == 2)
    page = await timeline.get_json(path, limit=1)
    rest = await timeline.get_json(path, limit=1, cursor=page["next_cursor"])

    assert [t["subject"] for t in page["items"] + rest["items"]] == ["Intro", "Private line"]
    assert rest["next_cursor"] is None
    mine = await timeline.get_json(f"/v1/people/{fay.person_id}/threads")
    assert [t["subject"] for t in mine["items"]] == ["Private line"]
    db = timeline.mongo[timeline.settings.mongo_db]
    assert await db["timeline_index"].find_one({}) is None  # no heads, no rosters
    assert await db["company_rosters"].find_one({}) is None


async def test_the_same_message_twice_and_from_two_mailboxes_is_one_message(
    timeline: Timeline, unique: str
) -> None:
    ws, topics = f"ws-{unique}", timeline.settings.topics
    await timeline.login(ws)
    in_a = mail(ws, "d1@x", account="acc-a", visibility="metadata")
    in_b = mail(ws, "d1@x", account="acc-b", visibility="subject")
    for event in (in_a, in_a, in_b, in_a):
        await timeline.publish(topics.timeline_messages, event.message.item_id, event)
    messages = timeline.mongo[timeline.settings.mongo_db]["messages"]

    async def sources() -> Json:
        return await messages.find_one({"_id": in_a.message.item_id}) or {}

    stored = await eventually(sources, lambda d: len(d.get("sources", {})) == 2)
    assert set(stored["sources"]) == {"acc-a", "acc-b"}
    assert await messages.count_documents({"workspace_id": ws}) == 1
    thread = await eventually(
        lambda: timeline.try_json(f"/v1/threads/{thread_id(ws, 'd1@x')}"),
        lambda t: t.get("subject") is not None,  # acc-b shares subjects
    )
    assert thread["message_count"] == 1
    assert len(thread["messages"]) == 1
    assert thread["messages"][0]["body_text"] is None  # neither mailbox shares bodies


async def test_a_message_shows_on_a_person_created_after_it(
    timeline: Timeline, unique: str
) -> None:
    ws, topics = f"ws-{unique}", timeline.settings.topics
    await timeline.login(ws)
    early = mail(ws, "e1@x", to=("carl@late.test",), subject="Before Carl existed")
    await timeline.publish(topics.timeline_messages, early.message.item_id, early)
    await eventually(
        lambda: timeline.client.get(f"/v1/threads/{early.thread_id}"),
        lambda r: r.status_code == 200,
    )

    carl = person(ws, "Carl", "Carl@Late.test")
    await timeline.publish(topics.records, carl.person_id, carl)
    found = await eventually(
        lambda: timeline.try_json("/v1/people", email="CARL@late.test"), _count(1)
    )

    page = await timeline.get_json(f"/v1/people/{found['items'][0]['id']}/threads")
    assert [t["subject"] for t in page["items"]] == ["Before Carl existed"]


async def test_a_metadata_mailbox_hides_subject_and_body(timeline: Timeline, unique: str) -> None:
    ws, topics = f"ws-{unique}", timeline.settings.topics
    await timeline.login(ws)
    dana = person(ws, "Dana", "dana@client.test")
    secret = mail(ws, "s1@x", to=("dana@client.test",), subject="Secret", visibility="metadata")
    await timeline.publish(topics.records, dana.person_id, dana)
    await timeline.publish(topics.timeline_messages, secret.message.item_id, secret)

    page = await eventually(
        lambda: timeline.try_json(f"/v1/people/{dana.person_id}/threads"), _count(1)
    )
    detail = await timeline.get_json(f"/v1/threads/{secret.thread_id}")

    assert page["items"][0]["subject"] is None
    assert page["items"][0]["visibility"] == "metadata"
    assert {p["email"] for p in page["items"][0]["participants"]} == {
        "me@us.test",
        "dana@client.test",
    }
    assert (detail["subject"], detail["messages"][0]["subject"]) == (None, None)
    assert detail["messages"][0]["body_text"] is None


async def test_meetings_are_on_person_and_company_calendars(
    timeline: Timeline, unique: str
) -> None:
    ws, topics = f"ws-{unique}", timeline.settings.topics
    await timeline.login(ws)
    eve, client = person(ws, "Eve", "eve@client.test"), company(ws, "client.test")
    await timeline.publish(topics.records, eve.person_id, eve)
    await timeline.publish(topics.records, client.company_id, client)
    for uid, minutes in (("u1", 0), ("u2", 60 * 24), ("u3", 60 * 48)):
        event = meeting(ws, uid, minutes=minutes, attendees=("eve@client.test",))
        await timeline.publish(topics.timeline_events, event.event.item_id, event)
    hidden = meeting(ws, "u4", minutes=10, attendees=("zed@client.test",), visibility="metadata")
    await timeline.publish(topics.timeline_events, hidden.event.item_id, hidden)

    mine = await eventually(
        lambda: timeline.try_json(f"/v1/people/{eve.person_id}/events"), _count(3)
    )
    assert [e["title"] for e in mine["items"]] == ["Meeting u3", "Meeting u2", "Meeting u1"]
    assert mine["items"][0]["duration_minutes"] == 30
    window = await timeline.get_json(
        f"/v1/people/{eve.person_id}/events",
        **{"from": at(60).isoformat(), "to": at(60 * 47).isoformat()},
    )
    assert [e["title"] for e in window["items"]] == ["Meeting u2"]
    theirs = await eventually(
        lambda: timeline.try_json(f"/v1/companies/{client.company_id}/events", order="asc"),
        _count(4),
    )
    assert [e["title"] for e in theirs["items"]] == ["Meeting u1", None, "Meeting u2", "Meeting u3"]


async def test_errors_are_problem_details(timeline: Timeline, unique: str) -> None:
    anonymous = await timeline.client.get("/v1/people/nobody")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    timeline.client.headers["Authorization"] = "Bearer crm_not-a-key"
    assert (await timeline.client.get("/v1/people/nobody")).status_code == 401

    await timeline.login(f"ws-{unique}")
    unknown = await timeline.client.get("/v1/people/nobody")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["status"] == 404
    assert unknown.json()["title"] == "Not Found"

    for params in ({"limit": 0}, {"limit": 201}, {"limit": "many"}, {"cursor": "garbage!"}):
        bad = await timeline.client.get("/v1/companies/any/threads", params=params)
        assert bad.status_code == 422, params
        assert bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["errors"][0]["loc"][0] == "query"

    health = await timeline.client.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    spec = await timeline.get_json("/openapi.json")
    assert "/v1/people/{person_id}/threads" in spec["paths"]
