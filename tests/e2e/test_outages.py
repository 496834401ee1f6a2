"""An outage of Kafka or of the store loses, duplicates and dead-letters nothing.

3,000-message imports run through the four services as processes while Kafka or FerretDB
is killed with SIGKILL and started again 20 s later. These servers are the tests' own
(tests/e2e/private_stack.py): the shared stack is never killed. No service is restarted
by hand. At the end every message is in the timeline once, nothing is on the dead-letter
topic, and the account's status is honest: up to date, 3,000 of 3,000.

Each Kafka kill serves two imports at once, each a deployment of its own (services,
topics, groups, databases): one killed at its start, right after the fetcher's first
batch, before the other services first publish (with producers not started yet); the
other at about 40 % of its import. The pair runs three times: the first case used to
fail in two runs of three. Each import prints a row: lost, duplicated, dead letters,
seconds from the server's return to the last message stored, and the status.
"""

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.outage_imports import MESSAGES, Import, Outcome, when
from tests.e2e.private_stack import PrivateStack

# Two imports of 3,000 messages and a 20 s outage take about two minutes on 2 busy cores.
pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(600)]

OUTAGE_S = 20.0


async def outage(private: PrivateStack, server: str) -> float:
    """SIGKILL the server, start it again OUTAGE_S later; returns when it answers again."""
    private.kill(server)
    await asyncio.sleep(OUTAGE_S)  # the outage itself, not a wait for an outcome
    await asyncio.to_thread(private.up, server)
    return time.monotonic()


def report(outcomes: list[Outcome], capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        for outcome in outcomes:
            print(outcome.table())
    for outcome in outcomes:
        assert (outcome.lost, outcome.duplicated, outcome.dead_letters) == (0, 0, 0), outcome
        assert outcome.status["state"] == "up_to_date", outcome
        assert outcome.status["done"] == outcome.status["total"] == MESSAGES, outcome


@pytest.mark.parametrize("run", [1, 2, 3])
async def test_kafka_killed_at_the_start_and_in_the_middle_of_imports_loses_nothing(
    private_stack: PrivateStack,
    imports: Callable[[], Import],
    capsys: pytest.CaptureFixture[str],
    run: int,
) -> None:
    early, middle = imports(), imports()
    await asyncio.gather(early.prepare(), middle.prepare())
    await middle.connect()
    # the early import starts once the middle one is a quarter in: by the early one's
    # first batch (when Kafka dies) the middle one is at about 40 %
    await when(lambda: _at_least(middle.fetched(), MESSAGES // 4), within=120)
    await early.connect()
    await when(lambda: _at_least(early.fetched(), 1), within=120)
    progress = await middle.fetched() / MESSAGES
    back = await outage(private_stack, "kafka")

    done = await asyncio.gather(early.settle(), middle.settle())
    report(
        [
            await early.outcome(f"kafka at start #{run}", done[0] - back, ""),
            await middle.outcome(f"kafka at {progress:.0%} #{run}", done[1] - back, ""),
        ],
        capsys,
    )


async def test_ferretdb_killed_in_the_middle_of_an_import_loses_nothing_and_says_so(
    private_stack: PrivateStack, imports: Callable[[], Import], capsys: pytest.CaptureFixture[str]
) -> None:
    one = imports()
    await one.prepare()
    await one.connect()
    await when(lambda: _at_least(one.fetched(), MESSAGES * 2 // 5), within=120)
    progress = await one.fetched() / MESSAGES
    back = await outage(private_stack, "ferretdb")

    done = await one.settle()
    # Kafka was up: the account's status said why the sync paused, then moved on
    said = [s for s in await one.statuses() if s["state"] == "failing"]
    outcome = await one.outcome(
        f"ferretdb at {progress:.0%}", done - back, said[0]["reason"] if said else ""
    )
    report([outcome], capsys)
    assert said, "the status never said that the sync waits for the database"
    assert "database" in said[0]["reason"], said


async def _at_least(count: Any, target: int) -> bool:
    return bool(await count >= target)
