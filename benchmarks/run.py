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


@dataclass
class Deployment:
    """The four services running for one benchmark, and a MongoDB client to watch them."""

    system: Any  # localsystem.LocalSystem (scripts/ is put on the path at start)
    mongo: MongoClient[dict[str, Any]]

    def admin(self, *args: str, password: str) -> str:
        """Run a crm-admin command (the password through BENCH_PASSWORD); return its output."""
        env = self.system.env_for("timeline-api") | {"BENCH_PASSWORD": password}
        done = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "timeline_api.admin", *args],
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
        """How many documents the timeline's read model holds in a collection."""
        return int(
            self.mongo[f"{self.system.prefix}_timeline"][collection].estimated_document_count()
        )


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
        extra_env=env or {},
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
