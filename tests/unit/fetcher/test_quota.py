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
