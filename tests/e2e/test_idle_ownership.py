"""IMAP IDLE scales with the fetcher workers: each holds the watches of the accounts whose
sync requests it owns, and a rebalance moves them.

Two workers share the sync-requests topic; every account is watched by exactly the
worker that owns its partition, and new mail in a mailbox is pushed by that worker. When
one worker stops, the other takes its partitions, and with them its watches.
"""

import asyncio
from typing import Any

import pytest
import seed
from localsystem import LocalSystem

from fetcher.idle import partition_of
from tests.e2e.fleet import DOMAIN, Mailbox, connect, last, log_entries, topics_with, workspace
from tests.e2e.harness import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

PARTITIONS = 4
WORKERS = ("fetcher", "fetcher#2")


async def mailboxes_on_every_partition(
    system: LocalSystem, stack: Any, unique: str
) -> list[Mailbox]:
    """Fresh mailboxes, enough that each partition of the sync requests has one."""
    ws = await workspace(system)
    boxes: list[Mailbox] = []
    covered: set[int] = set()
    n = 0
    while covered != set(range(PARTITIONS)):
        box = await connect(system, stack, ws, f"idle{n}-{unique}@{DOMAIN}")
        covered.add(partition_of(box.account_id, PARTITIONS))
        boxes.append(box)
        n += 1
    return boxes


def watching(system: LocalSystem, worker: str) -> tuple[set[int], set[str]]:
    """The partitions a worker owns and the accounts it watches, as it last logged."""
    entry = last(system, worker, "IDLE watches")
    return (set(entry["partitions"]), set(entry["watched"])) if entry else (set(), set())


def pushed_by(system: LocalSystem, worker: str, account_id: str) -> int:
    return sum(
        1
        for e in log_entries(system, worker)
        if e.get("msg") == "push sync queued" and e.get("account_id") == account_id
    )


async def new_mail_is_pushed_by(
    system: LocalSystem, stack: Any, box: Mailbox, worker: str, n: int
) -> None:
    before = pushed_by(system, worker, box.account_id)
    message = seed.build_message(
        message_id=f"push{n}-{box.account_id}",
        sender=f"client@customer-{n}.test",
        to=[box.email],
        subject="New",
        body="Hi.",
        sent_at=seed.datetime.now(seed.UTC),
    )
    await asyncio.to_thread(
        seed.append_messages,
        stack.imap_host,
        stack.imap_port,
        box.email,
        stack.imap_test_password,
        "INBOX",
        [message],
    )

    async def pushes() -> int:
        return pushed_by(system, worker, box.account_id)

    await eventually(pushes, lambda count: count > before, system, within=30)


async def test_each_worker_watches_the_accounts_of_its_partitions_and_a_rebalance_moves_them(
    system: LocalSystem, stack: Any, unique: str
) -> None:
    await topics_with(system, PARTITIONS)
    boxes = await mailboxes_on_every_partition(system, stack, unique)
    by_partition = {b.account_id: partition_of(b.account_id, PARTITIONS) for b in boxes}
    system.start("fetcher")
    system.start("fetcher", instance="2")

    async def split() -> list[tuple[set[int], set[str]]]:
        return [watching(system, w) for w in WORKERS]

    def spread(views: list[tuple[set[int], set[str]]]) -> bool:
        owned = [parts for parts, _ in views]
        return (
            all(owned)
            and set().union(*owned) == set(range(PARTITIONS))
            and all(
                accounts == {a for a, p in by_partition.items() if p in parts}
                for parts, accounts in views
            )
        )

    views = await eventually(split, spread, system, within=120)
    (a_parts, a_watch), (b_parts, b_watch) = views
    assert not a_parts & b_parts
    assert not a_watch & b_watch, "an account is watched by both workers"
    assert a_watch
    assert b_watch
    print(f"IDLE watches: fetcher {len(a_watch)}, fetcher#2 {len(b_watch)} of {len(boxes)}")

    # New mail is pushed by the worker that owns the mailbox's partition.
    moved = next(b for b in boxes if b.account_id in b_watch)
    await new_mail_is_pushed_by(system, stack, moved, "fetcher#2", 1)

    # fetcher#2 goes away (a scale-in): fetcher takes every partition, and the watches.
    system.stop("fetcher#2")

    async def first() -> tuple[set[int], set[str]]:
        return watching(system, "fetcher")

    await eventually(
        first,
        lambda view: view == (set(range(PARTITIONS)), set(by_partition)),
        system,
        within=120,
    )
    await new_mail_is_pushed_by(system, stack, moved, "fetcher", 2)
