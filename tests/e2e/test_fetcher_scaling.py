"""Fetcher workers share mailboxes correctly as they are added and lost (the local stack).

The sync requests have 8 partitions; 30 fresh mailboxes of skewed sizes (3 of 3,000,
2,000 and 1,500 messages, 27 of 1 to 12) are imported by one worker, then by three, and
one of them is killed (SIGKILL) in the middle of a job. Every mailbox ends complete with no message
lost; no account is synced by two workers at once (each worker logs the start and end
of every job: their intervals per account must not overlap); every live worker owned a
partition; the group's lag returns to 0. A big mailbox does not starve the small ones on
its partition: jobs are bounded (FETCHER_MAX_MESSAGES_PER_JOB), so every small mailbox
is complete before any big one, and the test prints when the last small one finished
next to a run of the small mailboxes alone. Speed is printed, never asserted.

    STACK_DIR=... .venv/bin/pytest tests/e2e/test_fetcher_scaling.py -q -s
"""

import asyncio
import imaplib
import itertools
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import seed
from aiokafka import AIOKafkaConsumer, TopicPartition
from localsystem import LocalSystem

from crm_schemas import groups
from crm_schemas.mail import RawMessage
from tests.deploy.manifests import Rendered, render
from tests.e2e.fleet import (
    DOMAIN,
    Mailbox,
    at,
    connect,
    log_entries,
    request_mail_syncs,
    topics_with,
    workspace,
)
from tests.e2e.harness import consumer_lag, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

PARTITIONS = 8
BIG = (3000, 2000, 1500)
SMALL = tuple(1 + (i * 5) % 12 for i in range(27))  # 1 to 12 messages each
PER_JOB, BATCH = 100, 25
WORKER_ENV = {
    "FETCHER_MAX_MESSAGES_PER_JOB": str(PER_JOB),
    "FETCHER_BATCH_SIZE": str(BATCH),
    # Dovecot serves 100 IMAP processes for the whole shared stack: 60 IDLE connections
    # would crowd out the imports. Push has its own test (test_idle_ownership.py).
    "FETCHER_IDLE": "false",
    # As deployed: a rebalance waits for the job in hand (deploy/k8s/base/config.yaml).
    "FETCHER_REBALANCE_WAIT_S": Rendered("prod", render("prod")).config()[
        "FETCHER_REBALANCE_WAIT_S"
    ],
}


def fill(stack: Any, email: str, size: int) -> None:
    """``size`` messages in a fresh mailbox's INBOX (plain APPENDs: it is empty)."""
    now = datetime.now(UTC)
    imap = imaplib.IMAP4(stack.imap_host, stack.imap_port)
    try:
        imap.login(email, stack.imap_test_password)
        for i in range(size):
            raw = seed.build_message(
                message_id=f"s{i}-{email}",
                sender=f"client{i % 7}@customer.test",
                to=[email],
                subject=f"Order {i}",
                body="Hi.",
                sent_at=now - timedelta(minutes=i),
            )
            imap.append("INBOX", "", imaplib.Time2Internaldate(time.time()), raw)
    finally:
        imap.logout()


@dataclass
class Imported:
    """What the fetchers published on mail.raw, read as it comes."""

    sizes: dict[str, int]
    ids: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    records: int = 0
    complete_at: dict[str, float] = field(default_factory=dict)

    def add(self, event: RawMessage) -> None:
        self.records += 1
        seen = self.ids[event.account_id]
        seen.add(event.item_id)
        if (
            len(seen) == self.sizes.get(event.account_id)
            and event.account_id not in self.complete_at
        ):
            self.complete_at[event.account_id] = time.monotonic()

    def done(self, accounts: list[str]) -> bool:
        return all(a in self.complete_at for a in accounts)


async def tail(bootstrap: str, topic: str, imported: Imported, stop: asyncio.Event) -> None:
    """Read every record of ``topic`` from the start until ``stop``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(4)])
        await consumer.seek_to_beginning()
        while not stop.is_set():
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    imported.add(RawMessage.model_validate_json(record.value))
    finally:
        await consumer.stop()


async def mailboxes(
    system: LocalSystem, stack: Any, name: str, sizes: tuple[int, ...]
) -> list[Mailbox]:
    ws = await workspace(system)
    emails = [f"{name}{i}@{DOMAIN}" for i in range(len(sizes))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda e_s: fill(stack, *e_s), zip(emails, sizes, strict=True)))
    return [await connect(system, stack, ws, email) for email in emails]


def jobs(system: LocalSystem, workers: list[str]) -> dict[str, list[tuple[str, float, float]]]:
    """Per account, each job as (worker, start, end); a job open when its worker was killed
    ends at the kill."""
    found: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    for worker in workers:
        open_jobs: dict[str, float] = {}
        for entry in log_entries(system, worker):
            if entry.get("msg") == "sync job started":
                open_jobs[entry["account_id"]] = at(entry)
            elif entry.get("msg") == "sync job ended":
                found[entry["account_id"]].append(
                    (worker, open_jobs.pop(entry["account_id"]), at(entry))
                )
        for account, start in open_jobs.items():
            found[account].append((worker, start, KILLED.get(worker, float("inf"))))
    return found


KILLED: dict[str, float] = {}


def overlaps(per_account: dict[str, list[tuple[str, float, float]]]) -> list[str]:
    """Jobs of one account that ran at the same time on two workers."""
    clashes = []
    for account, runs in per_account.items():
        for (w1, s1, e1), (w2, s2, e2) in itertools.combinations(runs, 2):
            if w1 != w2 and s1 < e2 and s2 < e1:
                clashes.append(f"{account}: {w1} {s1:.3f}-{e1:.3f} and {w2} {s2:.3f}-{e2:.3f}")
    return clashes


def assignments(system: LocalSystem, worker: str, group: str) -> list[list[str]]:
    return [
        e["partitions"]
        for e in log_entries(system, worker)
        if e.get("msg") == "partitions assigned" and e.get("group") == group
    ]


@pytest.mark.timeout(900)  # seeding 6,800 messages and three phases on a shared box
async def test_fetcher_workers_added_and_killed_share_the_mailboxes_without_overlap(
    system: LocalSystem, stack: Any, unique: str
) -> None:
    system.extra_env.update(WORKER_ENV)
    await topics_with(system, PARTITIONS)
    raw = f"{system.prefix}.mail.raw.v1"
    requests = f"{system.prefix}.sync.requests.v1"
    group = f"{system.prefix}.{groups.FETCHER}"
    alone = await mailboxes(system, stack, f"alone-{unique}-", SMALL)
    fleet = await mailboxes(system, stack, f"big-{unique}-", BIG)
    fleet += await mailboxes(system, stack, f"small-{unique}-", SMALL)
    sizes = {b.account_id: s for b, s in zip(alone + fleet, SMALL + BIG + SMALL, strict=True)}
    imported, stop = Imported(sizes), asyncio.Event()
    reader = asyncio.create_task(tail(system.kafka_bootstrap, raw, imported, stop))
    try:
        system.start("fetcher")
        # The small mailboxes alone, one worker: when is the last one complete?
        queued = time.monotonic()
        await request_mail_syncs(system, alone)
        small_alone = [b.account_id for b in alone]
        await eventually(_now(imported), lambda i: i.done(small_alone), system, within=180)
        alone_s = max(imported.complete_at[a] for a in small_alone) - queued

        # The 30: three big ones queued first, then the small ones.
        queued = time.monotonic()
        await request_mail_syncs(system, fleet)
        big = [b.account_id for b in fleet[: len(BIG)]]
        small = [b.account_id for b in fleet[len(BIG) :]]
        await eventually(_now(imported), lambda i: i.done(small), system, within=240)
        with_big_s = max(imported.complete_at[a] for a in small) - queued
        first_big = min(imported.complete_at.get(a, float("inf")) for a in big)
        assert max(imported.complete_at[a] for a in small) < first_big, "a big mailbox starved"

        # Two more workers; then one of them is killed mid-import.
        system.start("fetcher", instance="2")
        system.start("fetcher", instance="3")
        total = sum(BIG) + sum(SMALL)
        three = ("fetcher", "fetcher#2", "fetcher#3")

        async def owned() -> dict[str, list[str]]:
            return {w: (assignments(system, w, group) or [[]])[-1] for w in three}

        owned_by_three = await eventually(
            owned, lambda o: sum(map(len, o.values())) == PARTITIONS and all(o.values()), system
        )
        # A new worker in the middle of a big mailbox's job is killed.
        victim = await eventually(_busy(system, ("fetcher#2", "fetcher#3"), big), bool, system)
        KILLED[victim] = time.time()
        system.stop(victim, kill=True)
        assert not imported.done(big), "the import ended before the kill: it proved nothing"
        await eventually(_now(imported), lambda i: i.done(big + small), system, within=300)
        all_done_s = time.monotonic() - queued
        await eventually(
            lambda: consumer_lag(system.kafka_bootstrap, group, [requests]),
            lambda lag: lag == 0,
            system,
            within=120,
        )
    finally:
        stop.set()
        await reader

    lost = sum(size - len(imported.ids[a]) for a, size in sizes.items())
    distinct = sum(len(ids) for ids in imported.ids.values())
    republished = imported.records - distinct
    workers = ["fetcher", "fetcher#2", "fetcher#3"]
    clashes = overlaps(jobs(system, workers))
    survivors = {w: assignments(system, w, group)[-1] for w in workers if w not in KILLED}
    print(
        f"\nscaling: {total} messages in {len(fleet)} mailboxes, {PARTITIONS} partitions,"
        f" jobs of {PER_JOB}\n"
        f"  last small mailbox complete: {alone_s:.1f} s alone, {with_big_s:.1f} s with the"
        f" big ones queued first (one worker)\n"
        f"  all 30 complete {all_done_s:.1f} s after queueing (1 worker, then 3, then 2)\n"
        f"  partitions per worker with three: { {w: len(p) for w, p in owned_by_three.items()} };"
        f" after the kill: { {w: len(p) for w, p in survivors.items()} }\n"
        f"  lost {lost} and duplicated 0 of {distinct} distinct messages (both runs);"
        f" mail.raw records republished after the SIGKILL (at least once): {republished};"
        f" overlapping jobs {len(clashes)}"
    )
    assert lost == 0
    assert clashes == [], clashes
    assert all(owned_by_three.values()), owned_by_three
    assert all(survivors.values()), survivors
    assert sorted(itertools.chain(*survivors.values())) == sorted(
        f"{requests}/{p}" for p in range(PARTITIONS)
    )
    # At least once: only what the killed job had published past its cursor comes again.
    assert republished <= BATCH, republished


def _busy(system: LocalSystem, workers: tuple[str, ...], accounts: list[str]) -> Any:
    """A probe: the first of ``workers`` running a job of one of ``accounts`` now."""

    async def probe() -> str:
        for worker in workers:
            running: set[str] = set()
            for entry in log_entries(system, worker):
                if entry.get("msg") == "sync job started":
                    running.add(entry["account_id"])
                elif entry.get("msg") == "sync job ended":
                    running.discard(entry["account_id"])
            if running & set(accounts):
                return worker
        return ""

    return probe


def _now(imported: Imported) -> Any:
    async def probe() -> Imported:
        return imported

    return probe
