"""SIGTERM, as Kubernetes sends it on a rollout or a scale-in, to each consumer mid-stream.

Each consumer stops polling, finishes and commits the poll in hand, leaves its group and
exits within its Deployment's terminationGracePeriodSeconds (deploy/k8s). Proof that the
poll in hand was finished *and* committed: right after the exit, what the service has
produced equals what its group has committed (a poll cut short would leave outputs
without their commit, to be redone by the next owner). Then the service starts again and
the end state holds every message exactly once.
"""

import json
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import seed
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from localsystem import LocalSystem

from crm_schemas import groups
from tests.deploy.manifests import Rendered, render
from tests.e2e.harness import committed_offsets, consumer_lag, eventually, free_port
from tests.e2e.test_pipeline import OWN_DOMAIN, connect

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

TOTAL = 400
UVICORN_DONE = "Application shutdown complete."


def deployment(name: str) -> tuple[float, dict[str, str]]:
    """A Deployment's grace period and its containers' environment, from overlays/prod."""
    prod = Rendered("prod", render("prod"))
    found = prod.named("Deployment", name)
    (container,) = found["spec"]["template"]["spec"]["containers"]
    env = prod.environment(container)
    return float(found["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]), env


def grace_env(name: str) -> dict[str, str]:
    """The shutdown grace the deployment gives the service (*_SHUTDOWN_GRACE_S)."""
    _, env = deployment(name)
    return {k: v for k, v in env.items() if k.endswith("_SHUTDOWN_GRACE_S")}


async def ends(bootstrap: str, topic: str) -> int:
    """Records written to a topic (sum of its partitions' end offsets)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        parts = await consumer._client.fetch_all_metadata()
        ids = parts.partitions_for_topic(topic) or set()
        offsets = await consumer.end_offsets([TopicPartition(topic, p) for p in ids])
        return sum(offsets.values())
    finally:
        await consumer.stop()


async def committed(bootstrap: str, group: str, topic: str) -> int:
    """Records of ``topic`` the group has committed."""
    return sum((await committed_offsets(bootstrap, group, topic)).values())


def item_id(value: bytes) -> str:
    """The item id of a raw, matched, dropped or timeline message."""
    event = json.loads(value)
    return str(event.get("item_id") or event["message"]["item_id"])


async def item_ids(bootstrap: str, topic: str, group: str | None = None) -> set[str]:
    """The distinct items on a topic; with ``group``, only those the group has committed.

    Distinct, because a record may be on a topic twice by design: a poll whose bulk
    handler failed is redone one record at a time, publishing its outputs again."""
    upto = None if group is None else await committed_offsets(bootstrap, group, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        meta = await consumer._client.fetch_all_metadata()
        parts = [TopicPartition(topic, p) for p in meta.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(parts)
        stops = {tp: min(ends[tp], (ends if upto is None else upto).get(tp, 0)) for tp in parts}
        consumer.assign(parts)
        for tp in parts:
            consumer.seek(tp, 0)
        found: set[str] = set()
        read = {tp: 0 for tp in parts}
        while any(read[tp] < stops[tp] for tp in parts):
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                found |= {item_id(r.value) for r in records if r.offset < stops[tp]}
                read[tp] = records[-1].offset + 1
        return found
    finally:
        await consumer.stop()


async def members(bootstrap: str, group: str) -> int:
    """Members the group has now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
        return sum(len(described[5]) for described in response.groups)
    finally:
        await admin.close()


def sigterm(system: LocalSystem, name: str, grace: float) -> tuple[float, int]:
    """SIGTERM a running service; how long it took to exit, and its exit code."""
    process = system.processes.pop(name)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()  # as the kubelet would, at the end of the grace period
        process.wait()
        raise AssertionError(
            f"{name} did not exit within {grace} s\n{system.log_tail(name)}"
        ) from None
    return time.monotonic() - started, code


def seed_sent_mail(stack: Any, mailbox: str, unique: str) -> None:
    now = datetime.now(UTC)
    sent = [
        seed.build_message(
            message_id=f"g{i}-{unique}",
            sender=mailbox,
            to=[f"person{i}-{unique}@client.test"],
            subject=f"Quote {i}",
            body="Hi.",
            sent_at=now - timedelta(minutes=i),
        )
        for i in range(TOTAL)
    ]
    seed.append_messages(
        stack.imap_host, stack.imap_port, mailbox, stack.imap_test_password, "Sent", sent
    )


def log_lines(system: LocalSystem, name: str, message: str) -> int:
    path = Path(system.log_dir) / f"{name}.log"
    count = 0
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{") and json.loads(line).get("msg") == message:
            count += 1
    return count


async def stop_mid_stream(
    system: LocalSystem, name: str, deployment_name: str, progress: Any
) -> None:
    """Wait for some progress but not all, SIGTERM, check the exit; fails if the service
    finished everything first (the test would prove nothing)."""
    grace, _ = deployment(deployment_name)
    done = await eventually(progress, lambda n: n >= 1, system, within=120)
    elapsed, code = sigterm(system, name, grace)
    assert done < TOTAL, f"{name} finished before SIGTERM; the test proved nothing"
    # uvicorn (the projection's host) ends by re-raising the SIGTERM it handled, once its
    # shutdown is complete; the FastStream services exit 0.
    assert code == 0 or (code == -signal.SIGTERM and log_lines(system, name, UVICORN_DONE)), (
        system.log_tail(name)
    )
    assert elapsed < grace
    print(f"{name}: exited {elapsed:.1f} s after SIGTERM (grace {grace:.0f} s)")


async def test_a_fetcher_worker_finishes_its_job_commits_and_leaves_on_sigterm(
    system: LocalSystem, stack: Any, unique: str
) -> None:
    mailbox = f"gs-fetcher-{unique}@{OWN_DOMAIN}"
    seed_sent_mail(stack, mailbox, unique)
    env = grace_env("fetcher") | {"FETCHER_MAX_MESSAGES_PER_JOB": "100"}
    env["FETCHER_BATCH_SIZE"] = "20"
    system.start("timeline-api")
    system.start("fetcher", env=env)
    system.wait_for_api()
    await connect(system, stack, mailbox, caldav_user=None)
    raw = f"{system.prefix}.mail.raw.v1"
    requests, group = f"{system.prefix}.sync.requests.v1", f"{system.prefix}.{groups.FETCHER}"

    async def published() -> int:
        return await ends(system.kafka_bootstrap, raw)

    await stop_mid_stream(system, "fetcher", "fetcher", published)
    started = log_lines(system, "fetcher", "sync job started")
    ended = log_lines(system, "fetcher", "sync job ended")
    assert started == ended, "a job was cut short"
    assert await committed(system.kafka_bootstrap, group, requests) == ended
    assert await members(system.kafka_bootstrap, group) == 0, "it did not leave its group"

    system.start("fetcher", env=env)
    await eventually(published, lambda n: n >= TOTAL, system, within=180)
    await eventually(
        lambda: committed(system.kafka_bootstrap, group, requests),
        lambda n: n >= log_lines(system, "fetcher", "sync job ended") > ended,
        system,
    )
    assert await published() == TOTAL, "a message was published twice"
    assert len(await item_ids(system.kafka_bootstrap, raw)) == TOTAL


async def test_the_matcher_finishes_its_poll_commits_and_leaves_on_sigterm(
    system: LocalSystem, stack: Any, unique: str
) -> None:
    mailbox = f"gs-matcher-{unique}@{OWN_DOMAIN}"
    seed_sent_mail(stack, mailbox, unique)
    system.start_all(("fetcher", "timeline-api"))
    system.wait_for_api()
    await connect(system, stack, mailbox, caldav_user=None)
    p = system.prefix
    await eventually(lambda: ends(system.kafka_bootstrap, f"{p}.mail.raw.v1"), _all, system)
    env = grace_env("matcher") | {"MATCHER_BATCH_MAX_RECORDS": "10"}
    system.start("matcher", env=env)
    group, raw = f"{p}.{groups.MATCHER}", f"{p}.mail.raw.v1"

    async def outputs() -> int:
        matched = await ends(system.kafka_bootstrap, f"{p}.mail.matched.v1")
        return matched + await ends(system.kafka_bootstrap, f"{p}.dropped.v1")

    async def produced() -> set[str]:
        matched = await item_ids(system.kafka_bootstrap, f"{p}.mail.matched.v1")
        return matched | await item_ids(system.kafka_bootstrap, f"{p}.dropped.v1")

    # Stopped once the group has settled and committed (a consumer that joins a group its
    # other subscription is already in may see its first polls' commits refused).
    await stop_mid_stream(
        system, "matcher", "matcher", partial(committed, system.kafka_bootstrap, group, raw)
    )
    assert await produced() == await item_ids(system.kafka_bootstrap, raw, group)
    assert await members(system.kafka_bootstrap, group) == 0

    system.start("matcher", env=env)
    await drained(system, group, raw)
    assert len(await produced()) == TOTAL


async def test_the_enricher_finishes_its_poll_commits_and_leaves_on_sigterm(
    system: LocalSystem, stack: Any, unique: str
) -> None:
    mailbox = f"gs-enricher-{unique}@{OWN_DOMAIN}"
    seed_sent_mail(stack, mailbox, unique)
    system.start_all(("fetcher", "matcher", "timeline-api"))
    system.wait_for_api()
    await connect(system, stack, mailbox, caldav_user=None)
    p = system.prefix
    matched = f"{p}.mail.matched.v1"
    await eventually(lambda: ends(system.kafka_bootstrap, matched), _all, system, within=180)
    env = grace_env("enricher") | {"ENRICHER_BATCH_MAX_RECORDS": "10"}
    system.start("enricher", env=env)
    group, out = f"{p}.{groups.ENRICHER}", f"{p}.timeline.messages.v1"

    async def outputs() -> int:
        return await ends(system.kafka_bootstrap, out)

    await stop_mid_stream(
        system, "enricher", "enricher", partial(committed, system.kafka_bootstrap, group, matched)
    )
    produced = await item_ids(system.kafka_bootstrap, out)
    assert produced == await item_ids(system.kafka_bootstrap, matched, group)
    assert await members(system.kafka_bootstrap, group) == 0

    system.start("enricher", env=env)
    await drained(system, group, matched)
    assert len(await item_ids(system.kafka_bootstrap, out)) == TOTAL


async def test_the_timeline_projection_finishes_its_poll_commits_and_leaves_on_sigterm(
    system: LocalSystem, stack: Any, unique: str, mongo: Any
) -> None:
    mailbox = f"gs-projection-{unique}@{OWN_DOMAIN}"
    seed_sent_mail(stack, mailbox, unique)
    system.start("timeline-api", env={"TIMELINE_CONSUME": "false"})
    system.start_all(("fetcher", "matcher", "enricher"))
    system.wait_for_api()
    await connect(system, stack, mailbox, caldav_user=None)
    p = system.prefix
    topic = f"{p}.timeline.messages.v1"
    await eventually(lambda: ends(system.kafka_bootstrap, topic), _all, system, within=240)
    env = grace_env("timeline-projection") | {
        "TIMELINE_CONSUME": "true",
        "TIMELINE_PORT": str(free_port()),
        "TIMELINE_BATCH_MAX_RECORDS": "10",
    }
    system.start("timeline-projection", env=env)
    group = f"{p}.{groups.timeline('messages')}"
    messages = mongo[f"{p}_timeline"]["messages"]

    async def stored() -> int:
        return int(await messages.count_documents({}))

    await stop_mid_stream(
        system,
        "timeline-projection",
        "timeline-projection",
        partial(committed, system.kafka_bootstrap, group, topic),
    )
    stored_ids = {d["_id"] async for d in messages.find({}, {"_id": 1})}
    assert stored_ids == await item_ids(system.kafka_bootstrap, topic, group)
    assert await members(system.kafka_bootstrap, group) == 0

    system.start("timeline-projection", env=env)
    await drained(system, group, topic)
    assert await stored() == TOTAL


async def drained(system: LocalSystem, group: str, topic: str) -> None:
    """Wait until ``group`` has committed every record of ``topic`` (a topic may hold a
    record twice, so counting to TOTAL is not enough)."""

    async def lag() -> int:
        return await consumer_lag(system.kafka_bootstrap, group, [topic])

    await eventually(lag, lambda behind: behind == 0, system, within=180)


def _all(count: int) -> bool:
    return count >= TOTAL
