"""How long a crashed consumer's partitions stall, measured on the local stack's Kafka.

Two consumer processes share a group and a 4-partition topic, each subscribed through
crm_runtime.delivery.subscribe (so with the runtime's consumer settings). A producer
sends a timestamped message to every partition every 20 ms. One consumer is killed with
SIGKILL, as a crash would (or stopped with SIGTERM, --signal TERM, as a rollout does),
and (unless --no-restart) started again at once under the same name, as Kubernetes
restarts a crashed container in its pod. The stall is the
longest delay from sending to handling of any message sent after the kill, per case:

  dynamic   group membership by member id (CONSUMER_INSTANCE_ID empty), the default
  static    group.instance.id from a stable name (the pod's), KIP-345

Usage: .venv/bin/python scripts/measure_consumer_stall.py [--session-ms MS] [--no-restart]
       [--signal KILL|TERM]
Only the script's own consumers are killed; Kafka is not touched.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PARTITIONS = 4
EVERY_S = 0.02


def consume(name: str, out: Path) -> None:
    """The consumer process: records (partition, sent, handled) of every message."""
    from faststream import FastStream
    from opentelemetry.sdk.trace import TracerProvider
    from pydantic import BaseModel

    from crm_runtime.bus import build_broker
    from crm_runtime.delivery import subscribe
    from crm_runtime.settings import ServiceSettings

    class Tick(BaseModel):
        partition: int
        sent: float

    settings = ServiceSettings(
        kafka_bootstrap=os.environ["STALL_KAFKA"],
        topic_prefix=os.environ["STALL_PREFIX"],
        group_prefix=os.environ["STALL_PREFIX"],
        consumer_instance_id=os.environ.get("STALL_INSTANCE", ""),
        consumer_session_timeout_ms=int(os.environ["STALL_SESSION_MS"]),
    )
    broker = build_broker(settings, name, TracerProvider())
    log = out.open("a", buffering=1)

    async def handle(tick: Tick) -> None:
        log.write(f"{tick.partition} {tick.sent} {time.time()}\n")

    subscribe(
        broker,
        settings,
        topic=os.environ["STALL_TOPIC"],
        group="stall",
        contract=Tick,
        handler=handle,
        batch=True,
    )
    asyncio.run(FastStream(broker).run())


async def produce(bootstrap: str, topic: str, stop: asyncio.Event) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        while not stop.is_set():
            for partition in range(PARTITIONS):
                body = json.dumps({"partition": partition, "sent": time.time()}).encode()
                await producer.send(topic, body, partition=partition)
            await asyncio.sleep(EVERY_S)
    finally:
        await producer.stop()


def start(name: str, env: dict[str, str], out: Path, static: bool) -> subprocess.Popen[bytes]:
    child_env = dict(env, STALL_INSTANCE=name if static else "")
    return subprocess.Popen(  # noqa: S603 - this interpreter and this script
        [sys.executable, __file__, "--consume", name, str(out)],
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stall_after(out: Path, killed_at: float) -> tuple[float, int]:
    """The longest send-to-handle delay of a message sent after the kill, and how many."""
    delays = []
    for line in out.read_text().splitlines():
        _, sent, handled = line.split()
        if float(sent) >= killed_at:
            delays.append(float(handled) - float(sent))
    return (max(delays) if delays else float("inf")), len(delays)


async def case(
    bootstrap: str, static: bool, session_ms: int, restart: bool, stop_with: int, tmp: Path
) -> float:
    from crm_runtime.bus import delete_topics, ensure_topics

    prefix = f"stall{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.ticks"
    await ensure_topics(bootstrap, (topic,), PARTITIONS)
    out = tmp / f"{prefix}.log"
    env = dict(
        os.environ,
        STALL_KAFKA=bootstrap,
        STALL_PREFIX=prefix,
        STALL_TOPIC=topic,
        STALL_SESSION_MS=str(session_ms),
    )
    stop = asyncio.Event()
    producing = asyncio.create_task(produce(bootstrap, topic, stop))
    a = start("replica-a", env, out, static)
    b = start("replica-b", env, out, static)
    try:
        await asyncio.sleep(15)  # both joined, the group settled, messages flowing
        killed_at = time.time()
        b.send_signal(stop_with)
        b.wait()
        if restart:
            b = start("replica-b", env, out, static)
        await asyncio.sleep(session_ms / 1000 + 15)
        stall, count = stall_after(out, killed_at)
        return stall if count else float("inf")
    finally:
        stop.set()
        await producing
        for process in (a, b):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        await delete_topics(bootstrap, prefix)


async def main() -> None:
    from crm_runtime.settings import ServiceSettings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kafka", default="127.0.0.1:19092")
    default = ServiceSettings.model_fields["consumer_session_timeout_ms"].default
    parser.add_argument("--session-ms", type=int, default=default)
    parser.add_argument("--no-restart", action="store_true")
    parser.add_argument("--signal", choices=("KILL", "TERM"), default="KILL")
    args = parser.parse_args()
    stop_with = signal.SIGKILL if args.signal == "KILL" else signal.SIGTERM
    tmp = Path(tempfile.gettempdir()) / "consumer-stall"
    tmp.mkdir(exist_ok=True)
    for static in (False, True):
        restart = not args.no_restart
        stall = await case(args.kafka, static, args.session_ms, restart, stop_with, tmp)
        membership = "static" if static else "dynamic"
        after = "restarted at once" if restart else "not restarted"
        print(
            f"{membership:8} session {args.session_ms} ms, SIG{args.signal}, {after}: "
            f"partitions stalled up to {stall:.1f} s",
            flush=True,
        )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--consume":
        consume(sys.argv[2], Path(sys.argv[3]))
    else:
        asyncio.run(main())
