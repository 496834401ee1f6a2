"""Soak: new mail every second and timeline reads for 20 minutes; memory and disk at the
start and the end, nothing lost.

The services run as processes, as deployed (scripts/localsystem.py, a prefix of their
own): the fetcher worker (holding the IMAP IDLE watch) and its scheduler, the matcher,
the enricher, the timeline API serving HTTP only and the timeline projection in a process
of its own (docs/adr/0026). One IMAP account on the stack's Dovecot is first filled with
``BENCH_SOAK_PRELOAD`` messages (default 1,000) and imported; a first new message shows
that IDLE brings mail. Then for ``BENCH_SOAK_S`` seconds (default 1,200) one new message
from a customer is appended every ``BENCH_SOAK_GAP_S`` (1.0), each with a Message-ID of
its own, while the customers' person and company threads tabs are read over HTTP
(``BENCH_SOAK_READS_PER_S``, 4, one page of 50 after another).

A new message counts from just before its APPEND until the projection has stored it,
watched on Kafka (benchmarks/arrivals.py), which asks nothing of the database. The last
ones have ``BENCH_SOAK_DRAIN_S`` (120) to arrive; then each appended message's thread is
asked of the API (``GET /v1/threads/{id}``): one not there is lost. Reported: the RSS of
every service at the end next to the start (the ratio is the growth), the disk the run's
topics and databases take per 10,000 messages at the end next to the start, messages
lost, read latency next to the same reads made before the soak, read errors, and the new
mail's p50 and p95; everything else (RSS and CPU of every process, disk in bytes, the
worst latencies) in the details. ``make bench ONLY=soak``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import time
from dataclasses import dataclass

import httpx

from benchmarks.arrivals import Arrivals
from benchmarks.bench_mail import PASSWORD, _fill
from benchmarks.figures import Declared, Figure, Result, at_most
from benchmarks.harness import (
    BenchStack,
    Deployment,
    cpu_details,
    deployment,
    free_port,
    memory_mb,
    new_tag,
    percentile,
    run_disk,
    server_meter,
)
from benchmarks.soak_load import (
    CUSTOMERS,
    Reads,
    add_mail,
    read_pages,
    until_stored,
    warm_up,
)
from crm_schemas import ids

SERVICES = ("fetcher", "scheduler", "matcher", "enricher", "timeline-api", "timeline-projection")
SERVERS = ("kafka", "ferretdb", "dovecot")
DOMAIN = "acme.test"

_START = "the same at the soak's start"
_QUIET = "the same pages read before the soak, no new mail"
RSS = {
    s: Declared(
        f"rss_mb_{s.replace('-', '_')}", "MB",
        at_most(300, "issue 3") if s == "fetcher" else None, _START,
    )
    for s in SERVICES
}  # fmt: skip
DISK = {
    store: Declared(f"{store}_mb_per_10k_messages", "MB", None, _START)
    for store in ("ferretdb", "kafka")
}
LOST = Declared("messages_lost", "msg", at_most(0, "issue 18: nothing lost"))
READ_P50 = Declared("read_p50_ms", "ms", None, _QUIET)
READ_P99 = Declared("read_p99_ms", "ms", at_most(50, "issue 6: a page of 50"), _QUIET)
READ_ERRORS = Declared("read_errors", "reads", at_most(0, "every read answered"))
NEW_P50 = Declared("new_mail_p50_s", "s", None)
NEW_P95 = Declared("new_mail_p95_s", "s", at_most(5, "issue 16: p95 under 5 s"))
FIGURES = (*RSS.values(), *DISK.values(), LOST, READ_P50, READ_P99, READ_ERRORS, NEW_P50, NEW_P95)
SMOKE = {"BENCH_SOAK_S": "10", "BENCH_SOAK_PRELOAD": "50", "BENCH_SOAK_DRAIN_S": "60"}


@dataclass(frozen=True)
class Sizes:
    soak_s: float
    gap_s: float
    preload: int
    reads_per_s: float
    drain_s: float

    @classmethod
    def from_env(cls) -> Sizes:
        env = os.environ.get
        return cls(
            soak_s=float(env("BENCH_SOAK_S", "1200")),
            gap_s=float(env("BENCH_SOAK_GAP_S", "1.0")),
            preload=int(env("BENCH_SOAK_PRELOAD", "1000")),
            reads_per_s=float(env("BENCH_SOAK_READS_PER_S", "4")),
            drain_s=float(env("BENCH_SOAK_DRAIN_S", "120")),
        )


async def _lost(api: httpx.AsyncClient, workspace: str, message_ids: list[str]) -> int:
    """How many of the messages the timeline does not have (each its own thread's root)."""
    lost = 0
    for message_id in message_ids:
        answer = await api.get(f"/v1/threads/{ids.thread_id(workspace, message_id)}")
        found = answer.json().get("messages", []) if answer.status_code == 200 else []
        lost += not any(m.get("message_id") == message_id for m in found)
    return lost


def _start(bench: Deployment) -> None:
    """Every service as its own process, the projection apart from the API (adr 0026).
    The second process of a database starts once the first is up: two processes making
    a new database's collections at once can make the stack's FerretDB drop their
    connections (a panic in its log, "slice bounds out of range")."""
    system = bench.system
    for service in ("fetcher", "matcher", "enricher"):
        system.start(service)
    system.start("timeline-api", env={"TIMELINE_CONSUME": "false"})
    system.wait_for_api()
    system.start("scheduler")
    projection = {"TIMELINE_CONSUME": "true", "TIMELINE_PORT": str(free_port())}
    system.start("timeline-projection", env=projection)


def _connect(bench: Deployment, stack: BenchStack, user: str) -> tuple[str, str, str]:
    """A workspace, its admin's API key, and the mailbox: (workspace, account, key)."""
    made = bench.admin_json(
        "bootstrap", "--name", "Soak", "--domain", DOMAIN, "--admin-email", f"admin@{DOMAIN}"
    )
    account = bench.admin(
        "connect-account", "--workspace", made["workspace_id"], "--email", user,
        "--imap-host", stack.imap_host, "--imap-port", str(stack.imap_port),
        "--imap-tls", "none", "--username", user, "--password-env", "BENCH_PASSWORD",
        "--contact-creation", "sent_and_received", "--owner-member-id", made["member_id"],
        password=PASSWORD,
    )  # fmt: skip
    return made["workspace_id"], account, made["api_key"]


def _pages(workspace: str) -> list[str]:
    """The customers' person and company threads tabs, alternately."""
    pages = []
    for k in range(CUSTOMERS):
        pages.append(
            f"/v1/people/{ids.person_id(workspace, f'client{k}@customer{k}.test')}/threads"
        )
        pages.append(f"/v1/companies/{ids.company_id(workspace, f'customer{k}.test')}/threads")
    return pages


def _memory(bench: Deployment, stack: BenchStack, field: str = "VmRSS") -> dict[str, float]:
    """MB of each service's and each server's process (the resident set, or its peak)."""
    pids = {name: p.pid for name, p in bench.system.processes.items()}
    pids |= server_meter(stack, SERVERS).pids
    return {name: round(memory_mb(pid, field), 1) for name, pid in pids.items()}


def _per_10k(disk: dict[str, int], messages: int) -> dict[str, float]:
    return {store: round(used * 10_000 / max(messages, 1) / 1e6, 1) for store, used in disk.items()}


@dataclass(frozen=True)
class Snapshot:
    """The run's memory and disk at one moment, and the messages it had stored by then."""

    rss_mb: dict[str, float]
    disk: dict[str, int]
    messages: int

    def details(self, when: str) -> dict[str, float | int | str]:
        details: dict[str, float | int | str] = {f"messages_{when}": self.messages}
        for name, mb in self.rss_mb.items():
            details[f"rss_mb_{when}_{name.replace('-', '_')}"] = mb
        for store, used in self.disk.items():
            details[f"disk_bytes_{when}_{store}"] = used
        for store, mb in _per_10k(self.disk, self.messages).items():
            details[f"disk_mb_per_10k_{when}_{store}"] = mb
        return details


def _snapshot(bench: Deployment, stack: BenchStack, tag: str, messages: int) -> Snapshot:
    return Snapshot(_memory(bench, stack), run_disk(tag), messages)


async def _up_to_date(api: httpx.AsyncClient, account: str, bench: Deployment) -> None:
    """Wait until the account's mail says up to date (the first import done)."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        bench.system.check_alive()
        view = (await api.get(f"/v1/accounts/{account}")).json()
        if any(s["kind"] == "mail" and s["state"] == "up_to_date" for s in view["status"]):
            return
        await asyncio.sleep(1)
    raise RuntimeError("the first import was not up to date in 600 s")


def _figures(
    start: Snapshot, end: Snapshot, quiet: Reads, reads: Reads, lost: int, new: list[float]
) -> tuple[Figure, ...]:
    begun, ended = _per_10k(start.disk, start.messages), _per_10k(end.disk, end.messages)
    quiet_ms = quiet.ms or [0.0]
    return (
        *(RSS[s](end.rss_mb.get(s, 0.0), start.rss_mb.get(s)) for s in SERVICES),
        *(DISK[store](ended[store], begun[store]) for store in DISK),
        LOST(lost),
        READ_P50(percentile(reads.ms, 0.5), percentile(quiet_ms, 0.5)),
        READ_P99(percentile(reads.ms, 0.99), percentile(quiet_ms, 0.99)),
        READ_ERRORS(reads.errors),
        NEW_P50(percentile(new, 0.5)),
        NEW_P95(percentile(new, 0.95)),
    )


async def run(stack: BenchStack) -> Result:
    sizes = Sizes.from_env()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line a read otherwise
    tag = new_tag("soak")
    user = f"{tag}@{DOMAIN}"
    await asyncio.to_thread(_fill, stack.imap_host, stack.imap_port, user, sizes.preload)
    async with deployment(stack, tag, services=()) as bench:
        await asyncio.to_thread(_start, bench)
        workspace, account, key = await asyncio.to_thread(_connect, bench, stack, user)
        await asyncio.to_thread(bench.sync_now, account, "mail")
        preloaded = await bench.wait_stored(
            stack, "timeline.messages", "timeline-api.messages", "messages", sizes.preload, 600
        )
        headers = {"Authorization": f"Bearer {key}"}
        async with (
            httpx.AsyncClient(base_url=bench.system.api_url, headers=headers, timeout=30) as api,
            Arrivals(stack.kafka_bootstrap, tag) as arrivals,
        ):
            await _up_to_date(api, account, bench)
            warm_up_s = await warm_up(stack, user, tag, arrivals, bench)
            pages = _pages(workspace)
            quiet = await read_pages(
                api, pages, sizes.reads_per_s, max(5.0, 20 / sizes.reads_per_s)
            )
            start = _snapshot(bench, stack, tag, preloaded + len(arrivals.stored))
            meter = bench.cpu_meter(stack, SERVERS)
            meter.start()
            reads, added = await asyncio.gather(
                read_pages(api, pages, sizes.reads_per_s, sizes.soak_s),
                add_mail(stack, user, tag, arrivals, bench, for_s=sizes.soak_s, gap_s=sizes.gap_s),
            )
            await until_stored(arrivals, bench, sizes.drain_s)
            cpu = meter.stop()
            end = _snapshot(bench, stack, tag, preloaded + len(arrivals.stored))
            peaks = _memory(bench, stack, "VmHWM")
            new = arrivals.latencies(added) or [sizes.drain_s]
            lost = await _lost(api, workspace, added)
    details: dict[str, float | int | str] = {
        "soak_s": sizes.soak_s, "gap_s": sizes.gap_s, "reads_per_s": sizes.reads_per_s,
        "preloaded": preloaded, "warm_up_s": round(warm_up_s, 1), "appended": len(added),
        "stored_in_time": len(arrivals.latencies(added)), "lost": lost,
        "new_mail_mean_s": round(statistics.fmean(new), 3),
        "new_mail_max_s": round(max(new), 3), "reads": len(reads.ms),
        "read_errors": reads.errors, "read_max_ms": round(max(reads.ms), 1),
        "quiet_reads": len(quiet.ms), "quiet_read_p50_ms": round(percentile(quiet.ms, 0.5), 1),
    }  # fmt: skip
    details |= start.details("start") | end.details("end") | cpu_details(cpu)
    grown = {k: end.disk[k] - start.disk[k] for k in end.disk}
    for store, mb in _per_10k(grown, end.messages - start.messages).items():
        details[f"disk_mb_per_10k_soak_growth_{store}"] = mb  # what the soak's mail added
    details |= {f"rss_mb_peak_{k.replace('-', '_')}": v for k, v in peaks.items()}
    return Result(_figures(start, end, quiet, reads, lost, new), details)
