"""The soak's load: new mail from customers appended over IMAP, and timeline pages read
over HTTP, each at a steady rate (benchmarks/bench_soak.py)."""

from __future__ import annotations

import asyncio
import imaplib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx

from benchmarks.arrivals import Arrivals
from benchmarks.bench_mail import PASSWORD
from benchmarks.harness import BenchStack, Deployment

CUSTOMERS = 10  # new mail comes from client<k>@customer<k>.test, as some of the preload's
WARM_UP_S = 90.0  # a watch starts when the account's config reaches the worker (fetcher.idle)


@dataclass
class Reads:
    """Timeline pages read: each one's latency, and those that failed."""

    ms: list[float]
    errors: int = 0


def new_mail(user: str, tag: str, n: int) -> tuple[str, bytes]:
    """The ``n``-th new message from a customer to the mailbox: its Message-ID, its bytes."""
    k = n % CUSTOMERS
    message_id = f"soak-{tag}-{n}@customer{k}.test"
    raw = (
        f"From: Client {k} <client{k}@customer{k}.test>\r\nTo: Owner <{user}>\r\n"
        f"Subject: Soak {n}\r\nMessage-ID: <{message_id}>\r\n"
        f"Date: {format_datetime(datetime.now(UTC))}\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nHello, about order {n}.\r\n"
    )
    return message_id, raw.encode()


def append(stack: BenchStack, user: str, raw: bytes) -> None:
    imap = imaplib.IMAP4(stack.imap_host, stack.imap_port)
    try:
        imap.login(user, PASSWORD)
        imap.append("INBOX", "", None, raw)
    finally:
        imap.logout()


async def add_mail(
    stack: BenchStack,
    user: str,
    tag: str,
    arrivals: Arrivals,
    bench: Deployment,
    *,
    for_s: float,
    gap_s: float,
) -> list[str]:
    """One new message every ``gap_s``, for ``for_s``; their Message-IDs."""
    added: list[str] = []
    started = time.monotonic()
    while time.monotonic() - started < for_s:
        message_id, raw = new_mail(user, tag, len(added))
        arrivals.expect(message_id)
        await asyncio.to_thread(append, stack, user, raw)
        added.append(message_id)
        bench.system.check_alive()
        await asyncio.sleep(max(started + len(added) * gap_s - time.monotonic(), 0.0))
    return added


async def read_pages(api: httpx.AsyncClient, pages: list[str], per_s: float, for_s: float) -> Reads:
    """Read the pages in turn, ``per_s`` a second (one after another), for ``for_s``."""
    reads = Reads([])
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < for_s:
        sent = time.perf_counter()
        try:
            answer = await api.get(pages[n % len(pages)], params={"limit": 50})
            reads.errors += answer.status_code != 200
        except httpx.HTTPError:
            reads.errors += 1
        reads.ms.append((time.perf_counter() - sent) * 1000)
        n += 1
        await asyncio.sleep(max(started + n / per_s - time.monotonic(), 0.0))
    return reads


async def until_stored(arrivals: Arrivals, bench: Deployment, within_s: float) -> None:
    """Wait until every expected message is stored, or ``within_s``."""
    deadline = time.monotonic() + within_s
    while arrivals.missing and time.monotonic() < deadline:
        bench.system.check_alive()
        await asyncio.sleep(0.5)


async def warm_up(
    stack: BenchStack, user: str, tag: str, arrivals: Arrivals, bench: Deployment
) -> float:
    """New mail until one arrives by IDLE (a new one every 5 s: the watch may start after
    the first), then until every one has; returns the seconds it took."""
    started = time.monotonic()
    for n in range(int(WARM_UP_S / 5)):
        message_id, raw = new_mail(user, f"{tag}-warm-up", n)
        arrivals.expect(message_id)
        await asyncio.to_thread(append, stack, user, raw)
        await until_stored(arrivals, bench, 5.0)
        if arrivals.stored:
            await until_stored(arrivals, bench, WARM_UP_S)
            return time.monotonic() - started
    raise RuntimeError(f"no new mail arrived by IMAP IDLE in {WARM_UP_S:.0f} s")
