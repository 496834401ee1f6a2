"""The records API on real Kafka and FerretDB: a CRM owns people, companies and
opportunities, every change is published, and history links itself back in time."""

import json
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from tests.integration.timeline_api.builders import mail, meeting
from tests.integration.timeline_api.conftest import Timeline, eventually

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("record_owner")]

Json = dict[str, Any]


async def synced(timeline: Timeline, *events: Any, threads: int, meetings: int = 0) -> None:
    """Publish timeline items and wait until the projection stored them all."""
    topics = timeline.settings.topics
    for event in events:
        if hasattr(event, "thread_id"):
            await timeline.publish(topics.timeline_messages, event.thread_id, event)
        else:
            await timeline.publish(topics.timeline_events, event.event.item_id, event)
    db = timeline.mongo[timeline.settings.mongo_db]

    async def stored() -> tuple[int, int]:
        return await db.threads.count_documents({}), await db.events.count_documents({})

    await eventually(stored, lambda n: n == (threads, meetings))


async def post(timeline: Timeline, path: str, body: Json, status: int = 201) -> Json:
    response = await timeline.client.post(path, json=body)
    assert response.status_code == status, response.text
    result: Json = response.json()
    return result


async def patch(timeline: Timeline, path: str, body: Json, status: int = 200) -> Json:
    response = await timeline.client.patch(path, json=body)
    assert response.status_code == status, response.text
    result: Json = response.json()
    return result


def subjects(page: Json) -> list[str]:
    return [t["subject"] for t in page["items"]]


async def published(timeline: Timeline, expected: int) -> list[Json]:
    consumer = AIOKafkaConsumer(
        timeline.settings.topics.records,
        bootstrap_servers=timeline.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[Json] = []
    deadline = time.monotonic() + 20
    try:
        while len(found) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            found.extend(json.loads(r.value) for rs in batch.values() for r in rs)
    finally:
        await consumer.stop()
    return found


async def test_a_person_created_afterwards_shows_the_history_synced_before(
    timeline: Timeline, unique: str
) -> None:
    ws = f"ws-{unique}"
    await timeline.login(ws)
    await synced(
        timeline,
        mail(ws, "h1@x", minutes=0, subject="Before", to=("ann@client.test",)),
        meeting(ws, "u1", minutes=30, attendees=("ann@client.test",)),
        threads=1,
        meetings=1,
    )

    ann = await post(timeline, "/v1/people", {"name": "Ann", "emails": ["Ann@Client.test"]})

    assert ann["emails"] == ["ann@client.test"]
    threads = await timeline.get_json(f"/v1/people/{ann['id']}/threads")
    assert subjects(threads) == ["Before"]
    events = await timeline.get_json(f"/v1/people/{ann['id']}/events")
    assert [e["title"] for e in events["items"]] == ["Meeting u1"]
    assert (await timeline.get_json(f"/v1/people/{ann['id']}"))["name"] == "Ann"
    found = await timeline.get_json("/v1/people", email="ANN@client.test")
    assert [p["id"] for p in found["items"]] == [ann["id"]]
    [record] = await published(timeline, 1)
    assert record["type"] == "person"
    assert record["created_by"] == "api"
    assert record["person_id"] == ann["id"]


async def test_a_person_who_gets_another_address_shows_its_history_too(
    timeline: Timeline, unique: str
) -> None:
    ws = f"ws-{unique}"
    await timeline.login(ws)
    await synced(
        timeline,
        mail(ws, "a1@x", minutes=0, subject="Work", to=("ann@client.test",)),
        mail(ws, "a2@x", minutes=10, subject="Private", to=("ann.home@gmail.com",)),
        threads=2,
    )
    ann = await post(timeline, "/v1/people", {"name": "Ann", "emails": ["ann@client.test"]})
    path = f"/v1/people/{ann['id']}"
    assert subjects(await timeline.get_json(f"{path}/threads")) == ["Work"]

    changed = await patch(timeline, path, {"emails": ["ann@client.test", "ann.home@gmail.com"]})

    assert changed["emails"] == ["ann@client.test", "ann.home@gmail.com"]
    assert subjects(await timeline.get_json(f"{path}/threads")) == ["Private", "Work"]
    await patch(timeline, path, {"emails": ["ann.home@gmail.com"]})
    assert subjects(await timeline.get_json(f"{path}/threads")) == ["Private"]
    # The address given up is free again for someone else.
    other = {"name": "A2", "emails": ["ann@client.test"], "id": "a2"}
    await post(timeline, "/v1/people", other)


async def test_an_address_another_person_has_is_refused_not_shared(
    timeline: Timeline, unique: str
) -> None:
    ws = f"ws-{unique}"
    await timeline.login(ws)
    body = {"name": "Ann", "emails": ["ann@client.test"]}
    ann = await post(timeline, "/v1/people", body)
    bob = await post(timeline, "/v1/people", {"name": "Bob", "emails": ["bob@client.test"]})

    again = await timeline.client.post("/v1/people", json=body)
    taken = await timeline.client.patch(
        f"/v1/people/{bob['id']}", json={"emails": ["bob@client.test", "ann@client.test"]}
    )

    assert again.status_code == 409
    assert taken.status_code == 409
    assert taken.headers["content-type"] == "application/problem+json"
    assert ann["id"] in taken.json()["detail"]
    await timeline.login(f"{ws}-other")
    await post(timeline, "/v1/people", body)  # another workspace is another world


async def test_merging_two_people_moves_the_addresses_and_their_history(
    timeline: Timeline, unique: str
) -> None:
    ws = f"ws-{unique}"
    await timeline.login(ws)
    await synced(
        timeline,
        mail(ws, "w1@x", minutes=0, subject="Work", to=("ann@client.test",)),
        mail(ws, "p1@x", minutes=10, subject="Private", to=("ann.home@gmail.com",)),
        threads=2,
    )
    ann = await post(timeline, "/v1/people", {"name": "Ann", "emails": ["ann@client.test"]})
    home = await post(
        timeline,
        "/v1/people",
        {"name": "Ann Home", "emails": ["ann.home@gmail.com"]},
    )

    merged = await post(timeline, f"/v1/people/{ann['id']}/merge", {"from": home["id"]}, status=200)

    assert merged["emails"] == ["ann@client.test", "ann.home@gmail.com"]
    assert subjects(await timeline.get_json(f"/v1/people/{ann['id']}/threads")) == [
        "Private",
        "Work",
    ]
    gone = await timeline.client.get(f"/v1/people/{home['id']}")
    assert gone.status_code == 308
    assert gone.headers["location"] == f"/v1/people/{ann['id']}"
    found = await timeline.get_json("/v1/people", email="ann.home@gmail.com")
    assert [p["id"] for p in found["items"]] == [ann["id"]]
    records = await published(timeline, 4)
    assert {r.get("merged_into") for r in records if r["person_id"] == home["id"]} == {
        None,
        ann["id"],
    }
    again = await timeline.client.post(f"/v1/people/{ann['id']}/merge", json={"from": home["id"]})
    assert again.status_code == 422


async def test_a_company_that_gets_a_domain_shows_its_history(
    timeline: Timeline, unique: str
) -> None:
    ws = f"ws-{unique}"
    await timeline.login(ws)
    await synced(
        timeline,
        mail(ws, "d1@x", minutes=0, subject="Old deal", to=("bob@late.test",)),
        meeting(ws, "d2", minutes=5, attendees=("eve@late.test",)),
        threads=1,
        meetings=1,
    )
    late = await post(timeline, "/v1/companies", {"name": "Late"})
    path = f"/v1/companies/{late['id']}"
    assert (await timeline.get_json(f"{path}/threads"))["items"] == []

    await patch(timeline, path, {"domains": ["LATE.test"]})

    assert subjects(await timeline.get_json(f"{path}/threads")) == ["Old deal"]
    assert [e["title"] for e in (await timeline.get_json(f"{path}/events"))["items"]] == [
        "Meeting d2"
    ]
    found = await timeline.get_json("/v1/companies", domain="late.test")
    assert [c["id"] for c in found["items"]] == [late["id"]]
    clash = await timeline.client.post(
        "/v1/companies", json={"name": "Copy", "domains": ["late.test"]}
    )
    assert clash.status_code == 409


async def test_an_opportunity_shows_its_companys_and_its_peoples_items_once_newest_first(
    timeline: Timeline, unique: str
) -> None:
    ws = f"ws-{unique}"
    await timeline.login(ws)
    await synced(
        timeline,
        mail(ws, "o1@x", minutes=0, subject="Company only", to=("bob@client.test",)),
        mail(ws, "o2@x", minutes=10, subject="Both", to=("bob@client.test", "kim@gmail.com")),
        mail(ws, "o3@x", minutes=20, subject="Kim only", to=("kim@gmail.com",)),
        mail(ws, "o4@x", minutes=30, subject="Elsewhere", to=("zed@other.test",)),
        meeting(ws, "o5", minutes=40, attendees=("kim@gmail.com",)),
        threads=4,
        meetings=1,
    )
    client = await post(
        timeline,
        "/v1/companies",
        {"name": "Client", "domains": ["client.test"]},
    )
    kim = await post(timeline, "/v1/people", {"name": "Kim", "emails": ["kim@gmail.com"]})

    deal = await post(
        timeline,
        "/v1/opportunities",
        {"name": "Deal", "company_id": client["id"], "person_ids": [kim["id"]]},
    )

    path = f"/v1/opportunities/{deal['id']}"
    assert (await timeline.get_json(path))["person_ids"] == [kim["id"]]
    everything = await eventually(  # the timeline index follows the threads in a moment
        lambda: timeline.try_json(f"{path}/threads"), lambda p: len(p.get("items", [])) == 3
    )
    assert subjects(everything) == ["Kim only", "Both", "Company only"]
    first = await timeline.get_json(f"{path}/threads", limit=2)
    second = await timeline.get_json(f"{path}/threads", limit=2, cursor=first["next_cursor"])
    assert subjects(first) + subjects(second) == subjects(everything)
    assert second["next_cursor"] is None
    events = await timeline.get_json(f"{path}/events")
    assert [e["title"] for e in events["items"]] == ["Meeting o5"]
    await patch(timeline, path, {"person_ids": []})
    assert subjects(await timeline.get_json(f"{path}/threads")) == ["Both", "Company only"]


async def test_bad_record_requests_are_problems_with_their_fields(
    timeline: Timeline, unique: str
) -> None:
    ws = f"ws-{unique}"
    await timeline.login(ws)
    bad_email = await timeline.client.post(
        "/v1/people", json={"name": "X", "emails": ["not-an-address"]}
    )
    unknown_company = await timeline.client.post(
        "/v1/people",
        json={"name": "X", "emails": ["x@y.test"], "company_id": "nope"},
    )
    unknown_person = await timeline.client.patch("/v1/people/nope", json={"name": "X"})
    unknown_deal = await timeline.client.get("/v1/opportunities/nope/threads")
    unknown_member = await timeline.client.post(
        "/v1/opportunities", json={"name": "D", "person_ids": ["nope"]}
    )

    assert bad_email.status_code == 422
    assert bad_email.json()["errors"][0]["loc"][:2] == ["body", "emails"]
    assert unknown_company.status_code == 422
    assert unknown_company.json()["errors"][0]["loc"] == ["body", "company_id"]
    assert unknown_person.status_code == 404
    assert unknown_deal.status_code == 404
    assert unknown_member.status_code == 422
