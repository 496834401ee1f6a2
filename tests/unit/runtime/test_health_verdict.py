"""What the probes answer, from the state of a consumer process, and when a wait lets go."""

import asyncio

from aiokafka import TopicPartition

from crm_runtime.health import ConsumerHealth, verdict


def test_the_verdict_waits_for_every_group_and_flags_a_stalled_handler() -> None:
    parts = frozenset({("t", 0)})
    fresh = verdict(["a", "b"], ["a"], [(parts, 9.0)], now=10.0, stall_after_s=5, stopping=False)
    assert (fresh.live, fresh.ready, fresh.waiting_for) == (True, False, ("b",))
    joined = verdict(["a"], ["a"], [], now=10.0, stall_after_s=5, stopping=False)
    assert (joined.live, joined.ready) == (True, True)
    stalled = verdict(["a"], ["a"], [(parts, 1.0)], now=10.0, stall_after_s=5, stopping=False)
    assert (stalled.live, stalled.ready, stalled.stalled) == (False, False, ("t/0 held 9 s",))
    stopping = verdict(["a"], ["a"], [], now=10.0, stall_after_s=5, stopping=True)
    assert (stopping.live, stopping.ready) == (True, False)


async def test_a_wait_is_released_while_its_partitions_move_or_the_process_stops() -> None:
    health = ConsumerHealth(stall_after_s=300, rebalance_wait_s=5)
    mine, other = frozenset({("t", 0)}), frozenset({("t", 1)})
    token = health.hold(mine)
    assert not health.releasing(mine)
    rebalance = asyncio.create_task(health.revoked("g", {TopicPartition("t", 0)}))
    await asyncio.sleep(0)  # the rebalance starts, and waits for the token
    assert health.releasing(mine)  # the rebalance waits for it: hand the poll back
    assert not health.releasing(other)
    health.release(token)
    await rebalance
    assert not health.releasing(mine)
    health.stopping = True
    assert health.releasing(other)
