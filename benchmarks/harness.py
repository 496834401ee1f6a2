"""What the benchmarks share: where the local stack is, the services of a deployment
under a prefix of their own, the CPU and memory each process used meanwhile, the disk a
run's topics and databases take, and percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
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
    secrets_key: str = field(default="", repr=False)  # the stack's own (scripts/stack.sh)


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
        """CPU seconds of each process (by name) since ``start()``."""
        started = self.started or {}
        return {name: cpu_seconds(pid) - started.get(name, 0.0) for name, pid in self.pids.items()}


def cpu_details(cpu: dict[str, float]) -> dict[str, float]:
    """A meter's seconds as a benchmark's details: ``cpu_s_<process>``, to 0.1 s."""
    return {f"cpu_s_{name.replace('-', '_')}": round(s, 1) for name, s in cpu.items()}


def memory_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's memory from /proc/<pid>/status, in MB: ``VmRSS`` its resident set now,
    ``VmHWM`` its peak; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (``q`` from 0 to 1) of values, at least one."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def server_meter(stack: BenchStack, servers: tuple[str, ...]) -> CpuMeter:
    """A meter over the stack's ``servers`` (by their pid files; a missing one is left out)."""
    pids = {}
    for server in servers:
        pidfile = stack.run_dir / f"{server}.pid"
        if pidfile.exists():
            pids[server] = int(pidfile.read_text().strip())
    return CpuMeter(pids)


def new_tag(prefix: str) -> str:
    """A name for one run's topics, databases and users that no other run shares (another
    engineer's benchmark or smoke test may run on the same stack in the same second)."""
    return f"{prefix}{time.time_ns() // 1000 % 10**12:012d}"


@dataclass
class Deployment:
    """The four services running for one benchmark, and a MongoDB client to watch them."""

    system: Any  # localsystem.LocalSystem (scripts/ is put on the path at start)
    mongo: MongoClient[dict[str, Any]]

    def admin(self, *args: str, password: str = "") -> str:
        """Run a crm-admin command (the password through BENCH_PASSWORD); return the last
        line it printed (an id)."""
        return self._admin(*args, password=password).strip().splitlines()[-1]

    def admin_json(self, *args: str) -> dict[str, Any]:
        """Run a crm-admin command that prints JSON (``bootstrap``, ``add-member``)."""
        printed = self._admin(*args)
        made: dict[str, Any] = json.loads(printed[printed.index("{") :])
        return made

    def _admin(self, *args: str, password: str = "") -> str:
        env = self.system.env_for("timeline-api") | {"BENCH_PASSWORD": password}
        done = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "timeline_api.entrypoints.admin", *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

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
        return CpuMeter(pids | server_meter(stack, servers).pids)


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

    system = LocalSystem(
        kafka_bootstrap=stack.kafka_bootstrap,
        mongo_url=stack.mongo_url,
        prefix=tag,
        api_port=free_port(),
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


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stack_dir() -> Path:
    """The local stack's state folder (``STACK_DIR``)."""
    return Path(os.environ.get("STACK_DIR", ROOT / ".stack"))


def local_stack(work: Path) -> BenchStack:
    """The local stack (ports from the ``STACK_*`` variables); ``work``: where to write."""
    stack = stack_dir()
    work.mkdir(parents=True, exist_ok=True)
    return BenchStack(
        kafka_bootstrap=f"127.0.0.1:{os.environ.get('STACK_KAFKA_PORT', '19092')}",
        mongo_url=f"mongodb://127.0.0.1:{os.environ.get('STACK_MONGO_PORT', '27017')}/",
        imap_host="127.0.0.1",
        imap_port=int(os.environ.get("STACK_IMAP_PORT", "10143")),
        imap_password=os.environ.get("STACK_IMAP_TEST_PASSWORD", "test-password"),
        caldav_url=f"http://127.0.0.1:{os.environ.get('STACK_CALDAV_PORT', '15232')}/",
        caldav_users_file=stack / "radicale" / "users",
        work_dir=work,
        run_dir=stack / "run",
        secrets_key=_stack_secrets_key(),
    )


def _stack_secrets_key() -> str:
    """The key that seals the passwords and tokens of the stack's deployments: the one
    scripts/stack.sh made into its state folder, as `make run` and the tests use."""
    from localsystem import local_secrets_key

    key = local_secrets_key()
    if not key:
        raise SystemExit("the local stack has no secrets key: start it (make infra-up)")
    return key


def kafka_log_dir() -> Path:
    """The local Kafka's ``log.dirs`` (from the stack's server.properties)."""
    for line in (stack_dir() / "kafka" / "server.properties").read_text().splitlines():
        if line.startswith("log.dirs="):
            return Path(line.split("=", 1)[1].strip())
    return stack_dir() / "kafka" / "data"


def topic_bytes(topic: str) -> tuple[int, int]:
    """(bytes of the topic's segment files, bytes of disk its files use), all partitions."""
    partitions = list(kafka_log_dir().glob(f"{topic}-*"))
    size = sum(f.stat().st_size for p in partitions for f in p.iterdir() if f.suffix == ".log")
    return size, disk_bytes(partitions)


def disk_bytes(paths: Iterable[Path]) -> int:
    """Bytes of disk the files use (their blocks, as du counts them: Kafka's sparse,
    preallocated indexes count for what they hold), folders' files included."""
    used = 0
    for path in paths:
        files = path.rglob("*") if path.is_dir() else [path]
        with contextlib.suppress(FileNotFoundError):  # a segment deleted meanwhile
            used += sum(f.stat().st_blocks * 512 for f in files if f.is_file())
    return used


def run_disk(prefix: str) -> dict[str, int]:
    """Bytes of disk a run's topics (Kafka's log folder) and databases (FerretDB's
    SQLite files, and their write-ahead logs apart) use now."""
    databases = list((stack_dir() / "ferretdb" / "data").glob(f"{prefix}_*"))
    return {
        "kafka": disk_bytes(kafka_log_dir().glob(f"{prefix}.*")),
        "ferretdb": disk_bytes(databases),
        "ferretdb_wal": disk_bytes(d for d in databases if d.name.endswith("-wal")),
    }
