"""Quota arithmetic: a sliding window of units, as Google enforces its per-user quota."""

import pytest

from fetcher.domain.quota import SlidingWindow, window_start


def test_units_within_the_limit_are_spent_at_once():
    window = SlidingWindow(limit=100, window_s=60)
    assert window.wait_for(60, now=0) == 0
    window.spend(60, now=0)
    assert window.wait_for(40, now=1) == 0


def test_the_next_unit_waits_until_the_oldest_spending_leaves_the_window():
    window = SlidingWindow(limit=100, window_s=60)
    window.spend(50, now=0)
    window.spend(50, now=10)
    assert window.wait_for(30, now=20) == pytest.approx(40)  # the first 50 leave at 60
    assert window.wait_for(60, now=20) == pytest.approx(50)  # needs both: the second at 70
    assert window.wait_for(30, now=60) == 0


def test_a_request_larger_than_the_whole_window_is_refused():
    with pytest.raises(ValueError, match="never fit"):
        SlidingWindow(limit=10, window_s=1).wait_for(11, now=0)


def test_fixed_windows_start_on_their_boundary():
    assert window_start(125.5, 60) == 120
    assert window_start(59.9, 60) == 0


async def test_a_batch_takes_what_fits_instead_of_leaving_a_small_spending_s_room_unused():
    from fetcher.adapters.quota import MailboxQuota

    clock = {"now": 0.0}

    async def sleep(seconds: float) -> None:
        clock["now"] += seconds

    quota = MailboxQuota(1500, 6.0, clock=lambda: clock["now"], sleep=sleep)
    for _ in range(6):  # a full window of 50-message batches at 5 units each, 1 s apart
        assert await quota.acquire_some(5, 50) == 50
        clock["now"] += 1.0
    await quota.acquire(5)  # a list call: waits for the first batch's units to leave
    first_leaves = clock["now"]
    assert first_leaves == pytest.approx(6.12)  # the first batch's units leave
    # 245 units are free: 49 messages go now, not a whole batch at the next expiry.
    assert await quota.acquire_some(5, 50) == 49
    assert clock["now"] == first_leaves
    assert await quota.acquire_some(5, 1) == 1  # and the last one as soon as it fits
    assert clock["now"] > first_leaves
