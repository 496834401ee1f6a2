"""`make bench`: run the benchmarks on the local stack and report their numbers.

Each benchmark is a module ``benchmarks/bench_<name>.py`` with
``async def run(stack: BenchStack) -> dict[str, float | int | str]``. Results are printed
and written to ``.bench/<name>.json``. Benchmarks report numbers; they never fail on a
threshold (targets are read by a person, next to a baseline measured in the same run).

    make bench                 # every benchmark
    make bench ONLY=mail       # only benchmarks/bench_mail.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import MongoClient

from crm_runtime.bus import delete_topics

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class BenchStack:
    """Where the local stack is, and where a benchmark may write."""

    kafka_bootstrap: str
    mongo_url: str
    imap_host: str
    imap_port: int
    imap_password: str
    caldav_url: str
    caldav_users_file: Path
    work_dir: Path
    run_dir: Path  # the stack's pid files


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used, its reaped children's included (Dovecot's imap
    processes are children of its master), from /proc/<pid>/stat; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime are fields 14-17 of stat(5); fields[0] is field 3
    ticks = sum(int(fields[i]) for i in range(11, 15))
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuMeter:
    """CPU seconds each process used between ``start()`` and ``stop()``: the services of a
    deployment and the stack's servers, which shows where a benchmark's time goes."""

    pids: dict[str, int]
    started: dict[str, float] | None = None

    def start(self) -> None:
        self.started = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        started = self.started or {}
        return {
            f"cpu_s_{name.replace('-', '_')}": round(cpu_seconds(pid) - started.get(name, 0.0), 1)
            for name, pid in self.pids.items()
        }


@dataclass
class Deployment:
    """The four services running for one benchmark, and a MongoDB client to watch them."""

    system: Any  # localsystem.LocalSystem (scripts/ is put on the path at start)
    mongo: MongoClient[dict[str, Any]]

    def admin(self, *args: str, password: str) -> str:
        """Run a crm-admin command (the password through BENCH_PASSWORD); return its output."""
        env = self.system.env_for("timeline-api") | {"BENCH_PASSWORD": password}
        done = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "timeline_api.entrypoints.admin", *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return str(done.stdout.strip().splitlines()[-1])

    def sync_now(self, account: str, kind: str) -> None:
        """Ask the fetcher for one sync of an account."""
        command = ["-m", "fetcher", "sync-now", "--account", account, "--kind", kind]
        subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, *command],
            env=self.system.env_for("fetcher"),
            check=True,
            capture_output=True,
        )

    def on_timeline(self, collection: str) -> int:
        """How many documents the timeline's read model holds in a collection. On FerretDB
        a count reads every document: call it once a stage is drained, not in a loop."""
        return int(
            self.mongo[f"{self.system.prefix}_timeline"][collection].estimated_document_count()
        )

    async def wait_stored(
        self, stack: BenchStack, topic: str, group: str, collection: str, count: int,
        deadline_s: float,
    ) -> int:  # fmt: skip
        """Wait until ``collection`` of the timeline holds ``count`` documents, or the
        deadline; returns how many it holds. Progress is watched on Kafka, at no cost to
        the database being measured: the projection's ``group`` has committed everything
        published on ``topic`` (offsets are committed once the writes are done), and that
        is at least ``count`` records. Then the collection is counted once."""
        started = time.monotonic()
        stored = 0
        async with _TopicWatch(stack.kafka_bootstrap, self.system.prefix, topic, group) as watch:
            while stored < count and time.monotonic() - started < deadline_s:
                self.system.check_alive()
                await asyncio.sleep(0.5)
                published, committed = await watch.progress()
                if published >= count and committed == published:
                    stored = self.on_timeline(collection)
        return stored

    def cpu_meter(self, stack: BenchStack, servers: tuple[str, ...]) -> CpuMeter:
        """A meter over this deployment's services and the stack's ``servers``."""
        pids = {name: process.pid for name, process in self.system.processes.items()}
        for server in servers:
            pidfile = stack.run_dir / f"{server}.pid"
            if pidfile.exists():
                pids[server] = int(pidfile.read_text().strip())
        return CpuMeter(pids)


class _TopicWatch:
    """How many records a topic holds and how many of them a consumer group committed."""

    def __init__(self, bootstrap: str, prefix: str, topic: str, group: str) -> None:
        self._topic = f"{prefix}.{topic}.v1"
        self._group = f"{prefix}.{group}"
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def __aenter__(self) -> _TopicWatch:
        await self._admin.start()
        await self._consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def progress(self) -> tuple[int, int]:
        """(records published, records the group committed), over every partition."""
        await self._consumer._client.force_metadata_update()
        numbers = self._consumer.partitions_for_topic(self._topic) or set()
        partitions = [TopicPartition(self._topic, p) for p in numbers]
        if not partitions:
            return 0, 0
        ends = await self._consumer.end_offsets(partitions)
        committed = await self._admin.list_consumer_group_offsets(self._group)
        done = sum(max(committed[tp].offset, 0) for tp in partitions if tp in committed)
        return sum(ends.values()), done


@contextlib.asynccontextmanager
async def deployment(
    stack: BenchStack,
    tag: str,
    services: tuple[str, ...] = ("fetcher", "matcher", "enricher", "timeline-api"),
    env: dict[str, str] | None = None,
) -> AsyncIterator[Deployment]:
    """Start the services under their own prefix (``services=()`` starts none: the
    benchmark starts what it needs); afterwards stop them and remove every database and
    topic they made (Kafka keeps files open per partition)."""
    from localsystem import LocalSystem

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    system = LocalSystem(
        kafka_bootstrap=stack.kafka_bootstrap,
        mongo_url=stack.mongo_url,
        prefix=tag,
        api_port=port,
        log_dir=stack.work_dir / tag,
        # the local stack's IMAP and CalDAV servers are on 127.0.0.1
        extra_env={"FETCHER_ALLOW_PRIVATE_HOSTS": "true", **(env or {})},
    )
    mongo: MongoClient[dict[str, Any]] = MongoClient(stack.mongo_url)
    try:
        if services:
            system.start_all(services)
            await asyncio.to_thread(system.wait_for_api)
        yield Deployment(system, mongo)
    finally:
        system.stop_all()
        for suffix in ("fetcher", "matcher", "enricher", "timeline"):
            mongo.drop_database(f"{tag}_{suffix}")
        mongo.close()
        await delete_topics(stack.kafka_bootstrap, tag)


def local_stack() -> BenchStack:
    stack_dir = Path(os.environ.get("STACK_DIR", ROOT / ".stack"))
    work = ROOT / ".bench"
    work.mkdir(exist_ok=True)
    return BenchStack(
        kafka_bootstrap=f"127.0.0.1:{os.environ.get('STACK_KAFKA_PORT', '19092')}",
        mongo_url=f"mongodb://127.0.0.1:{os.environ.get('STACK_MONGO_PORT', '27017')}/",
        imap_host="127.0.0.1",
        imap_port=int(os.environ.get("STACK_IMAP_PORT", "10143")),
        imap_password=os.environ.get("STACK_IMAP_TEST_PASSWORD", "test-password"),
        caldav_url=f"http://127.0.0.1:{os.environ.get('STACK_CALDAV_PORT', '15232')}/",
        caldav_users_file=stack_dir / "radicale" / "users",
        work_dir=work,
        run_dir=stack_dir / "run",
    )


def discover(only: list[str]) -> list[str]:
    names = sorted(p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py"))
    return [n for n in names if not only or n in only]


async def run_all(names: list[str]) -> int:
    stack = local_stack()
    for name in names:
        module: Any = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"== {name}: {(module.__doc__ or '').strip().splitlines()[0]}", flush=True)
        started = time.monotonic()
        results = await module.run(stack)
        results["wall_s"] = round(time.monotonic() - started, 1)
        for key, value in results.items():
            print(f"   {key:40s} {value}")
        (stack.work_dir / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    if not names:
        print("no benchmarks found")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("only", nargs="*", help="benchmark names (default: all)")
    sys.exit(asyncio.run(run_all(discover(parser.parse_args().only))))


if __name__ == "__main__":
    main()
