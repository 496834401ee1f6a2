"""What the probes answer, from the state of a consumer process (pure)."""

from crm_runtime.health import verdict


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
