"""Helpers of the end-to-end tests: polling with deadlines, and "the pipeline is drained"."""

import asyncio
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from localsystem import LocalSystem

if TYPE_CHECKING:
    from timeline_api.settings import TimelineSettings

T = TypeVar("T")


def timeline_settings(system: LocalSystem) -> "TimelineSettings":
    """The settings the deployment's timeline-api runs with, for crm-admin calls."""
    from timeline_api.settings import TimelineSettings

    env = system.env_for("timeline-api")
    return TimelineSettings(
        kafka_bootstrap=env["TIMELINE_KAFKA_BOOTSTRAP"],
        mongo_url=env["TIMELINE_MONGO_URL"],
        mongo_db=env["TIMELINE_MONGO_DB"],
        topic_prefix=env["TIMELINE_TOPIC_PREFIX"],
        group_prefix=env["TIMELINE_GROUP_PREFIX"],
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    system: LocalSystem,
    within: float = 90.0,
) -> T:
    """Poll ``probe`` until ``done`` holds, failing with the last value and the logs."""
    deadline = time.monotonic() + within
    value = await probe()
    while not done(value):
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {s}\n{system.log_tail(s)}" for s in list(system.processes))
            raise AssertionError(f"not reached in {within:.0f} s; last value: {value!r}\n{logs}")
        system.check_alive()
        await asyncio.sleep(0.25)
        value = await probe()
    return value


async def queue_sync(system: LocalSystem, account_id: str, kind: str | None = None) -> None:
    """Queue a sync of an account (of ``kind``, else both) with ``fetcher sync-now``, once
    the fetcher's projection has the account."""
    command = [sys.executable, "-m", "fetcher", "sync-now", "--account", account_id]
    command += ["--kind", kind] if kind else []

    async def queue() -> int:
        done = await asyncio.create_subprocess_exec(
            *command,
            env=system.env_for("fetcher"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return await done.wait()

    await eventually(queue, lambda code: code == 0, system, within=180)


async def consumer_lag(bootstrap: str, group: str, topics: list[str]) -> int:
    """Messages on ``topics`` that ``group`` has not committed yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in (consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))
        ]
        ends = await consumer.end_offsets(partitions)
        lag = 0
        for tp, end in ends.items():
            meta = committed.get(tp)
            lag += end - (meta.offset if meta is not None and meta.offset >= 0 else 0)
        return lag
    finally:
        await consumer.stop()
        await admin.close()


async def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[TopicPartition, int]:
    """The offsets ``group`` has committed on ``topic``'s partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp: m.offset for tp, m in offsets.items() if tp.topic == topic and m.offset >= 0}


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


async def wait_drained(system: LocalSystem, within: float = 90.0) -> None:
    """Wait until every service has committed everything on its input topics."""
    p = system.prefix
    groups = {
        f"{p}.fetcher": [f"{p}.sync.requests.v1"],
        f"{p}.matcher": [f"{p}.mail.raw.v1", f"{p}.calendar.raw.v1"],
        f"{p}.matcher.records": [f"{p}.records.v1"],
        f"{p}.enricher": [f"{p}.mail.matched.v1", f"{p}.calendar.matched.v1"],
        f"{p}.enricher.commands": [f"{p}.records.commands.v1"],
        f"{p}.timeline-api.messages": [f"{p}.timeline.messages.v1"],
        f"{p}.timeline-api.events": [f"{p}.timeline.events.v1"],
        f"{p}.timeline-api.records": [f"{p}.records.v1"],
    }

    async def total_lag() -> int:
        lags = [await consumer_lag(system.kafka_bootstrap, g, t) for g, t in groups.items()]
        return sum(lags)

    await eventually(total_lag, lambda lag: lag == 0, system, within)


async def connect_mailboxes(
    system: LocalSystem, stack: Any, *mailboxes: str
) -> tuple[str, list[str], str]:
    """A workspace with these IMAP mailboxes connected (through crm-admin, every
    correspondent made a person) and an API key of the first one's owner: the workspace
    id, the account ids and the key."""
    from pydantic import SecretStr

    from timeline_api.entrypoints.admin import add_member, connect_account, create_workspace

    settings = timeline_settings(system)
    workspace = await create_workspace(settings, name="Acme", domains=["acme.test"])
    accounts = [
        await connect_account(
            settings,
            workspace_id=workspace,
            email=mailbox,
            imap_host=stack.imap_host,
            imap_port=stack.imap_port,
            imap_tls="none",
            username=mailbox,
            password=SecretStr(stack.imap_test_password),
            contact_creation="sent_and_received",
        )
        for mailbox in mailboxes
    ]
    key = (await add_member(settings, workspace, mailboxes[0]))["api_key"]
    return workspace, accounts, key
