"""A full replay of a mailbox next to its first import, and what mail.raw holds for it.

``BENCH_REPLAY_MESSAGES`` messages (default below) are appended to a fresh Dovecot
mailbox and imported by the four services as processes (a prefix of their own): the
import is timed from ``fetcher sync-now`` until the timeline's read model holds every
message. Then the bytes ``mail.raw`` takes in Kafka's log directory are added up (its
segment files' sizes, and the blocks they use), and scaled to 10,000 messages. Then
``crm-admin replay --kind mail --since everything`` reprocesses the workspace: it is
timed from the command until the job is done (the matcher processed every copied record)
and the enricher and the projection have committed everything after it
(docs/replay.md). Reports both durations and rates and their ratio.

As figures: the replay's messages a second, next to the first import's in the same run
(no goal filed: the issue asks for the two side by side), and the megabytes mail.raw
takes per 10,000 messages (no baseline). ``make bench ONLY=replay``; the 20,000-message
figure of the issue: ``BENCH_REPLAY_MESSAGES=20000 BENCH_REPLAY_DEADLINE_S=1800``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from benchmarks.bench_mail import PASSWORD, _fill
from benchmarks.figures import Declared, Result
from benchmarks.harness import cpu_details, deployment, new_tag, topic_bytes
from crm_schemas import groups

DEFAULT_MESSAGES = 1000
DEFAULT_DEADLINE_S = 600
RATE = Declared(
    "replay_msgs_per_s", "msg/s", None, "the first import of the same mailbox, same run"
)
STORAGE = Declared("mail_raw_mb_per_10k_messages", "MB", None)
FIGURES = (RATE, STORAGE)
SMOKE = {"BENCH_REPLAY_MESSAGES": "10", "BENCH_REPLAY_DEADLINE_S": "120"}
DRAINED = {  # group (after the prefix) -> its input topics (after the prefix)
    groups.MATCHER_REPLAY_MAIL: ["mail.replay.v1"],
    groups.ENRICHER: ["mail.matched.v1"],
    groups.timeline("messages"): ["timeline.messages.v1"],
    groups.TIMELINE_INDEX: ["timeline.index.v1"],
}


async def lag(bootstrap: str, prefix: str) -> int:
    """Records the replay's groups have not committed yet, on their input topics."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        total = 0
        for group, topics in DRAINED.items():
            committed = await admin.list_consumer_group_offsets(f"{prefix}.{group}")
            partitions = [TopicPartition(f"{prefix}.{t}", p) for t in topics for p in range(4)]
            for tp, end in (await consumer.end_offsets(partitions)).items():
                meta = committed.get(tp)
                total += end - (meta.offset if meta is not None and meta.offset >= 0 else 0)
        return total
    finally:
        await consumer.stop()
        await admin.close()


async def drained(bootstrap: str, prefix: str, until: float) -> None:
    """Return once the replay's groups have committed everything, or at ``until``."""
    while time.monotonic() < until:
        if not await lag(bootstrap, prefix):
            return
        await asyncio.sleep(0.5)


async def run(stack: Any) -> Result:
    count = int(os.environ.get("BENCH_REPLAY_MESSAGES", DEFAULT_MESSAGES))
    deadline = float(os.environ.get("BENCH_REPLAY_DEADLINE_S", DEFAULT_DEADLINE_S))
    tag = new_tag("replay")
    user = f"{tag}@acme.test"
    await asyncio.to_thread(_fill, stack.imap_host, stack.imap_port, user, count)
    async with deployment(stack, tag) as bench:
        workspace = bench.admin(
            "create-workspace", "--name", "Bench", "--domain", "acme.test", password=PASSWORD
        )
        account = bench.admin(
            "connect-account", "--workspace", workspace, "--email", user,
            "--imap-host", stack.imap_host, "--imap-port", str(stack.imap_port),
            "--imap-tls", "none", "--username", user, "--password-env", "BENCH_PASSWORD",
            password=PASSWORD,
        )  # fmt: skip
        started = time.monotonic()
        await asyncio.to_thread(bench.sync_now, account, "mail")
        stored = await bench.wait_stored(
            stack, "timeline.messages", "timeline-api.messages", "messages", count, deadline
        )
        import_s = time.monotonic() - started
        log_bytes, disk_bytes = topic_bytes(f"{tag}.mail.raw.v1")

        meter = bench.cpu_meter(stack, ("kafka", "ferretdb"))
        meter.start()
        started = time.monotonic()
        env = bench.system.env_for("timeline-api")
        command = ["replay", "--kind", "mail", "--since", "everything", "--workspace", workspace]
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "timeline_api.entrypoints.admin", *command],
            env=env,
            check=True,
            capture_output=True,
            timeout=deadline,
        )
        job_s = time.monotonic() - started
        await drained(stack.kafka_bootstrap, tag, started + deadline)
        replay_s = time.monotonic() - started
        cpu = meter.stop()
        after = bench.on_timeline("messages")
    per_10k = 10_000 / max(stored, 1)
    import_rate, replay_rate = stored / import_s, stored / replay_s
    figures = (RATE(replay_rate, import_rate), STORAGE(log_bytes * per_10k / 1e6))
    return Result(
        figures,
        {
            "messages": count,
            "stored_on_timeline": stored,
            "import_s": round(import_s, 1),
            "import_msgs_per_s": round(import_rate, 1),
            "replay_job_s": round(job_s, 1),
            "replay_s": round(replay_s, 1),
            "replay_msgs_per_s": round(replay_rate, 1),
            "replay_over_import_time": round(replay_s / import_s, 3),
            "messages_after_replay": after,
            "mail_raw_log_bytes": log_bytes,
            "mail_raw_disk_bytes": disk_bytes,
            "mail_raw_mb_per_10k_messages": round(log_bytes * per_10k / 1e6, 2),
            **{f"replay_{k}": v for k, v in cpu_details(cpu).items()},
        },
    )
