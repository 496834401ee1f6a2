"""Reprocessing from the API and crm-admin, on the real Kafka and FerretDB: a job asked
for by an admin and followed; a range the raw topic no longer holds refused with a clear
error (409 problem+json, exit code 2); a settings change applied to history queues one."""

import asyncio
import os
import subprocess
import sys
import time

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import PolicyViolationError

from crm_schemas.config import AccountConfigured
from tests.integration.timeline_api.conftest import Timeline
from timeline_api.domain.access import Role
from timeline_api.settings import TimelineSettings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_an_admin_reprocesses_the_workspace_and_follows_the_job(
    timeline: Timeline, unique: str
) -> None:
    ws = f"ws-{unique}"
    await timeline.login(ws)
    _, member_key = await timeline.key_for(ws, "bob@us.test", Role.MEMBER)

    asked = await timeline.client.post(
        f"/v1/workspaces/{ws}/reprocess", json={"kinds": "mail", "since": "2026-01-01T00:00:00Z"}
    )
    assert asked.status_code == 202, asked.text
    job = asked.json()
    assert asked.headers["Location"] == f"/v1/workspaces/{ws}/reprocess/{job['id']}"
    assert (job["kinds"], job["workspace_id"], job["state"]) == (["mail"], ws, "queued")

    followed = await timeline.get_json(f"/v1/workspaces/{ws}/reprocess/{job['id']}")
    assert followed["id"] == job["id"]
    assert followed["state"] in ("queued", "waiting"), "no matcher has read the settings here"
    assert set(followed["read"]) == {"done", "total"}

    member = {"Authorization": f"Bearer {member_key}"}
    refused = await timeline.client.post(f"/v1/workspaces/{ws}/reprocess", json={}, headers=member)
    assert refused.status_code == 403
    other = await timeline.client.post("/v1/workspaces/ws-other/reprocess", json={})
    assert other.status_code == 404
    unknown = await timeline.client.get(f"/v1/workspaces/{ws}/reprocess/nope")
    assert unknown.status_code == 404
    naive = await timeline.client.post(
        f"/v1/workspaces/{ws}/reprocess", json={"since": "2026-01-01T00:00:00"}
    )
    assert naive.status_code == 422


async def lose_the_oldest_mail(settings: TimelineSettings) -> None:
    """mail.raw as a deployment that kept the broker's default retention, after the
    retention deleted its oldest records."""
    topic = settings.topics.mail_raw
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for p in range(4):
            for n in range(2):
                await producer.send_and_wait(topic, b"{}", key=f"k{n}".encode(), partition=p)
    finally:
        await producer.stop()
    await delete_oldest(settings.kafka_bootstrap, topic)


async def delete_oldest(bootstrap: str, topic: str) -> None:
    """Give the topic Kafka's default retention, then delete its first record of each of
    its four partitions (what retention does to old segments)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        delete = {"cleanup.policy": "delete"}
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, delete)])
        deadline = time.monotonic() + 20
        while True:  # the controller applies the policy a moment later
            described = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic)]
            )
            if ("cleanup.policy", "delete") in [e[:2] for e in described[0].resources[0][4]]:
                break
            assert time.monotonic() < deadline, f"{topic} never took cleanup.policy=delete"
            await asyncio.sleep(0.1)
        partitions = {TopicPartition(topic, p): RecordsToDelete(1) for p in range(4)}
        while True:  # every broker view of the policy follows the controller's
            try:
                await admin.delete_records(partitions, timeout_ms=10_000)
                return
            except PolicyViolationError:
                assert time.monotonic() < deadline, f"{topic} refuses to delete records"
                await asyncio.sleep(0.2)
    finally:
        await admin.close()


def crm_admin(settings: TimelineSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    for field in ("kafka_bootstrap", "topic_prefix", "group_prefix", "mongo_db"):
        env[f"TIMELINE_{field.upper()}"] = str(getattr(settings, field))
    env["TIMELINE_MONGO_URL"] = settings.mongo_url.get_secret_value()
    return subprocess.run(
        [sys.executable, "-m", "timeline_api.entrypoints.admin", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_a_replay_past_what_the_raw_topic_holds_is_refused_with_what_it_holds(
    timeline: Timeline, unique: str
) -> None:
    ws = f"ws-{unique}"
    await timeline.login(ws)
    await lose_the_oldest_mail(timeline.settings)

    refused = await timeline.client.post(f"/v1/workspaces/{ws}/reprocess", json={"kinds": "both"})
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert timeline.settings.topics.mail_raw in refused.json()["detail"]
    assert "no longer holds" in refused.json()["detail"]
    calendar = await timeline.client.post(
        f"/v1/workspaces/{ws}/reprocess", json={"kinds": "calendar"}
    )
    assert calendar.status_code == 202, "calendar.raw is compacted: it holds everything"

    cli = await asyncio.to_thread(
        crm_admin, timeline.settings, "replay", "--kind", "mail", "--since", "everything",
        "--workspace", ws,
    )  # fmt: skip
    assert cli.returncode == 2, cli.stdout + cli.stderr
    assert "no longer holds" in cli.stderr
    assert "Traceback" not in cli.stderr


async def test_crm_admin_asks_for_a_replay_of_every_workspace_and_prints_the_job(
    timeline: Timeline,
) -> None:
    cli = await asyncio.to_thread(
        crm_admin, timeline.settings, "replay", "--kind", "calendar", "--since",
        "2026-01-01T00:00", "--all", "--no-wait",
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert '"workspace_id": null' in cli.stdout
    assert "replay " in cli.stderr
    assert "read 0/" in cli.stderr
    bad = await asyncio.to_thread(
        crm_admin, timeline.settings, "replay", "--kind", "mail", "--since", "yesterday", "--all"
    )
    assert bad.returncode == 2
    assert "neither a time nor 'everything'" in bad.stderr


async def test_a_settings_change_applied_to_history_queues_a_replay_of_that_account(
    timeline: Timeline, unique: str
) -> None:
    ws = f"ws-{unique}"
    owner = await timeline.login(ws, "alice@us.test", Role.ADMIN)
    account = AccountConfigured(
        account_id=f"acc-{unique}",
        workspace_id=ws,
        owner_member_id=owner.member_id,
        email="alice@us.test",
    )
    await timeline.directory.save_account(account)
    path = f"/v1/accounts/{account.account_id}"

    plain = await timeline.client.patch(path, json={"mail": {"visibility": "metadata"}})
    blocked = await timeline.client.patch(
        path, json={"mail": {"blocklist": ["spam.test"]}, "apply_to_history": True}
    )
    calendar = await timeline.client.patch(
        path, json={"calendar": {"visibility": "metadata"}, "apply_to_history": True}
    )
    domains = await timeline.client.patch(
        "/v1/workspace", json={"domains": ["us.test", "us2.test"], "apply_to_history": True}
    )
    renamed = await timeline.client.patch(
        "/v1/workspace", json={"name": "New name", "apply_to_history": True}
    )

    assert plain.status_code == 200, plain.text
    assert plain.json()["replay_job"] is None, "without it, the change applies to what comes"
    jobs = [r.json()["replay_job"] for r in (blocked, calendar, domains)]
    assert all(jobs), [r.text for r in (blocked, calendar, domains)]
    assert renamed.json()["replay_job"] is None, "a name is no rule: nothing to reprocess"
    views = [await timeline.get_json(f"/v1/workspaces/{ws}/reprocess/{j}") for j in jobs]
    assert [(v["kinds"], v["account_id"]) for v in views] == [
        (["mail", "calendar"], account.account_id),
        (["calendar"], account.account_id),
        (["mail", "calendar"], None),
    ]
    stored = await timeline.directory.account(account.account_id)
    assert stored is not None
    assert stored.mail.blocklist == ("spam.test",)
