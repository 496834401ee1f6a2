"""Replays end to end: Dovecot and Radicale -> the four services -> FerretDB -> HTTP, and
the same history reprocessed under new settings (docs/replay.md).

One deployment and one synced corpus serve every test, in order: a replay with unchanged
settings changes nothing; blocking a domain, excluding a folder and switching the contact
policy each equal a fresh run with that setting from the start (a workspace of its own on
the same mailbox), and undoing them brings the items back; a replay while new mail
arrives loses and doubles nothing; a disconnected account and a deleted meeting stay away.
"""

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import caldav
import httpx
import pytest
import pytest_asyncio
import seed
from localsystem import LocalSystem

from tests.conftest import Stack, delete_topics
from tests.e2e.harness import eventually, free_port, timeline_settings
from tests.e2e.replay_world import (
    EXTERNAL,
    OWN,
    Corpus,
    account_body,
    append,
    differences,
    drained,
    replayed,
    seed_alice,
    seed_carol,
    snapshot,
    timelines,
)
from tests.e2e.test_pipeline import sync_now

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

BULK = 150
ALICE = {"include_folders": ["INBOX", "Sent", "Projects"]}


class World:
    """The deployment, the corpus, and the workspace ``ws`` whose history is replayed."""

    def __init__(self, system: LocalSystem, stack: Stack, corpus: Corpus) -> None:
        self.system, self.stack, self.corpus = system, stack, corpus
        self.ws = f"ws-{corpus.unique}"
        self.keys: dict[str, str] = {}
        self.accounts: dict[str, str] = {}
        self.first: dict[str, Any] = {}  # the workspace's snapshot after its first import

    def api(self, key: str | None = None) -> httpx.AsyncClient:
        token = key or self.keys[self.ws]
        return httpx.AsyncClient(
            base_url=self.system.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    async def workspace(self, workspace_id: str, admin: str) -> str:
        from timeline_api.entrypoints.admin import bootstrap

        settings = timeline_settings(self.system)
        made = await bootstrap(settings, workspace_id, [OWN], admin, None, workspace_id)
        self.keys[workspace_id] = made["api_key"]
        return made["api_key"]

    async def connect(self, key: str, body: dict[str, Any]) -> str:
        async with self.api(key) as api:
            response = await api.post("/v1/accounts", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def fresh(self, name: str, **mail: Any) -> dict[str, Any]:
        """A workspace of its own on Alice's mailbox and calendar with these mail settings
        from the start, synced: its snapshot."""
        workspace = f"{name}-{self.corpus.unique}"
        key = await self.workspace(workspace, self.corpus.alice)
        settings = ALICE | mail
        await self.connect(key, account_body(self.stack, self.corpus.alice, True, **settings))
        await drained(self.system)
        async with self.api(key) as api:
            return await self.snapshot(api)

    async def snapshot(self, api: httpx.AsyncClient) -> dict[str, Any]:
        """Alice's correspondents and their companies (the second mailbox's are not in a
        fresh run on Alice's mailbox)."""
        return await snapshot(api, self.corpus.people, EXTERNAL[:3])

    async def change(self, body: dict[str, Any]) -> dict[str, Any]:
        """Change Alice's account with ``apply_to_history``; wait for the replay; the
        snapshot of the workspace after it."""
        async with self.api() as api:
            response = await api.patch(
                f"/v1/accounts/{self.accounts['alice']}", json=body | {"apply_to_history": True}
            )
            assert response.status_code == 200, response.text
            job = response.json()["replay_job"]
            assert job, "a replay was queued"
            await replayed(api, self.system, self.ws, job)
            return await self.snapshot(api)


@pytest.fixture(scope="module")
def system(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    deployment = LocalSystem(
        kafka_bootstrap=stack.kafka_bootstrap,
        mongo_url=stack.mongo_url,
        prefix=f"r{uuid.uuid4().hex[:10]}",
        api_port=free_port(),
        log_dir=tmp_path_factory.mktemp("replay-logs"),
        extra_env={"FETCHER_SCHEDULE_INTERVAL_S": "3600", "TIMELINE_ALLOW_PRIVATE_HOSTS": "true"},
    )
    yield deployment
    deployment.stop_all()
    delete_topics(stack.kafka_bootstrap, deployment.prefix)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(system: LocalSystem, stack: Stack) -> AsyncIterator[World]:
    corpus = Corpus(uuid.uuid4().hex[:8])
    seed_alice(stack, corpus)
    seed_carol(stack, corpus, BULK)
    system.start_all()
    system.wait_for_api()
    built = World(system, stack, corpus)
    key = await built.workspace(built.ws, corpus.alice)
    alice = account_body(stack, corpus.alice, True, **ALICE)
    built.accounts["alice"] = await built.connect(key, alice)
    async with built.api() as api:
        added = await api.post("/v1/members", json={"email": corpus.carol})
        assert added.status_code == 201, added.text
    built.accounts["carol"] = await built.connect(
        added.json()["api_key"], account_body(stack, corpus.carol, False)
    )
    await drained(system, within=240)
    async with built.api() as api:
        built.first = await built.snapshot(api)
    yield built


async def test_a_replay_with_unchanged_settings_leaves_every_timeline_as_it_was(world: World):
    first = world.first
    assert set(first["people"]) == {world.corpus.at("client.test", "jane"),
                                    world.corpus.at("blocked.test", "sam")}  # fmt: skip
    assert first["people"][world.corpus.at("client.test", "jane")]["threads"], "synced"

    async with world.api() as api:
        asked = await api.post(f"/v1/workspaces/{world.ws}/reprocess", json={"kinds": "both"})
        assert asked.status_code == 202, asked.text
        job = await replayed(api, world.system, world.ws, asked.json()["id"])
        again = await world.snapshot(api)

    assert job["copied"] >= BULK
    assert job["processed"]["done"] == job["processed"]["total"] > 0
    assert again == first, differences(again, first)


async def test_a_blocked_domain_replayed_equals_a_fresh_run_and_unblocking_brings_it_back(
    world: World,
):
    sam = world.corpus.at("blocked.test", "sam")
    blocked = await world.change({"mail": {"blocklist": ["blocked.test"]}})

    fresh = await world.fresh("blocked", blocklist=["blocked.test"])
    assert timelines(blocked) == timelines(fresh), differences(timelines(blocked), timelines(fresh))
    assert sam not in fresh["people"]
    assert sam in blocked["people"], "a record made before is never deleted by a replay"
    async with world.api() as api:
        why = (
            await api.get(
                "/v1/messages/explain", params={"message_id": f"intro-{world.corpus.unique}"}
            )
        ).json()
    assert (why["status"], why["reason"]) == ("dropped", "blocked")

    unblocked = await world.change({"mail": {"blocklist": []}})
    assert unblocked == world.first, differences(unblocked, world.first)


async def test_an_excluded_folder_replayed_equals_a_fresh_run_and_including_it_brings_it_back(
    world: World,
):
    excluded = await world.change({"mail": {"exclude_folders": ["Projects"]}})

    fresh = await world.fresh("excluded", exclude_folders=["Projects"])
    assert timelines(excluded) == timelines(fresh), differences(
        timelines(excluded), timelines(fresh)
    )
    jane = excluded["people"][world.corpus.at("client.test", "jane")]
    assert "Project plan" not in [t["subject"] for t in jane["threads"]]

    included = await world.change({"mail": {"exclude_folders": []}})
    assert included == world.first, differences(included, world.first)


async def test_switching_the_contact_policy_replayed_equals_a_fresh_run_with_it(world: World):
    switched = await world.change({"mail": {"contact_creation": "sent_and_received"}})

    fresh = await world.fresh("received", contact_creation="sent_and_received")
    assert switched == fresh, differences(switched, fresh)
    kim = world.corpus.at("vendor.test", "kim")
    assert [t["subject"] for t in switched["people"][kim]["threads"]] == ["Catalogue"]
    assert "vendor.test" in switched["companies"]


async def test_a_replay_while_new_mail_arrives_loses_and_doubles_nothing(world: World, mongo: Any):
    from datetime import UTC, datetime, timedelta

    u, alice = world.corpus.unique, world.corpus.alice
    db = mongo[f"{world.system.prefix}_timeline"]
    live = {"sources": {"$exists": True}, "workspace_id": world.ws}
    before = await db["messages"].count_documents(live)
    now = datetime.now(UTC).replace(microsecond=0)
    new = [
        seed.build_message(message_id=f"new{n}-{u}", sender=alice,
                           to=[f"Jane Doe <{world.corpus.at('client.test', 'jane')}>"],
                           subject=f"Update {n}", body="News.", sent_at=now - timedelta(minutes=n))
        for n in range(20)
    ]  # fmt: skip

    async with world.api() as api:
        asked = await api.post(f"/v1/workspaces/{world.ws}/reprocess", json={"kinds": "mail"})
        assert asked.status_code == 202, asked.text
        append(world.stack, alice, "Sent", new)
        sync_now(world.system, world.accounts["alice"], "mail")
        await replayed(api, world.system, world.ws, asked.json()["id"])
        jane = (await world.snapshot(api))["people"][world.corpus.at("client.test", "jane")]

    assert await db["messages"].count_documents(live) == before + len(new)
    updates = [t for t in jane["threads"] if t["subject"].startswith("Update ")]
    assert sorted(t["subject"] for t in updates) == sorted(f"Update {n}" for n in range(20))
    assert all(t["message_count"] == 1 for t in updates)
    first = world.first["people"][world.corpus.at("client.test", "jane")]
    assert [t for t in jane["threads"] if t not in updates] == first["threads"]


async def test_a_disconnected_account_and_a_deleted_meeting_stay_away_after_a_replay(
    world: World,
):
    lee = world.corpus.at("partner.test", "lee")
    with caldav.DAVClient(
        url=world.stack.caldav_url, username=world.corpus.alice,
        password=world.stack.imap_test_password,
    ) as client:  # fmt: skip
        work = next(c for c in client.principal().calendars() if c.name == "work")
        work.event_by_uid(f"retro-{world.corpus.unique}").delete()
    async with world.api() as api:
        gone = await api.delete(f"/v1/accounts/{world.accounts['carol']}")
        assert gone.status_code == 204, gone.text
        sync_now(world.system, world.accounts["alice"], "calendar")
        await drained(world.system)

        async def lee_and_retro() -> tuple[Any, Any]:
            snap = await snapshot(api, (lee, world.corpus.at("client.test", "jane")), ())
            return snap["people"][lee], snap["people"][world.corpus.at("client.test", "jane")]

        before = await eventually(
            lee_and_retro,
            lambda found: not found[0]["threads"] and "Retro" not in str(found[1]["events"]),
            world.system,
        )
        asked = await api.post(f"/v1/workspaces/{world.ws}/reprocess", json={"kinds": "both"})
        await replayed(api, world.system, world.ws, asked.json()["id"])
        after = await lee_and_retro()

    assert after == before
    assert after[0]["name"] == "Lee Partner", "the person stays: records are never deleted"
    assert [e[0] for e in after[1]["events"]] == ["Kick-off"]
