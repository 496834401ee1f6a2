"""Quota arithmetic: how long a caller must wait before spending units in a window."""

from collections import deque
from dataclasses import dataclass, field

# Gmail API quota units per method (developers.google.com/gmail/api/reference/quota).
GMAIL_UNITS = {"messages.get": 5, "messages.list": 5, "history.list": 2, "getProfile": 1}
GMAIL_LABELS_LIST_UNITS = 1


@dataclass(slots=True)
class SlidingWindow:
    """Units spent in the last ``window_s`` seconds, never more than ``limit``.

    A sliding window, as Google's per-user quota is enforced: a burst of a whole minute's
    units right after a quiet minute is allowed, the next unit only once the oldest
    spending has left the window.
    """

    limit: int
    window_s: float
    _spent: deque[tuple[float, int]] = field(default_factory=deque)
    _total: int = 0

    def wait_for(self, units: int, now: float) -> float:
        """Seconds to wait before ``units`` may be spent at ``now`` (0: spend now)."""
        if units > self.limit:
            raise ValueError(f"{units} units can never fit a window of {self.limit}")
        self._expire(now)
        excess = self._total + units - self.limit
        if excess <= 0:
            return 0.0
        freed = 0
        for at, spent in self._spent:
            freed += spent
            if freed >= excess:
                return max(at + self.window_s - now, 0.0)
        return self.window_s  # unreachable: the window holds at least the excess

    def spend(self, units: int, now: float) -> None:
        """Record ``units`` spent at ``now``."""
        self._expire(now)
        self._spent.append((now, units))
        self._total += units

    def room(self, now: float) -> int:
        """Units that may be spent at ``now`` without waiting."""
        self._expire(now)
        return self.limit - self._total

    @property
    def spent(self) -> int:
        """Units in the window as of the last call."""
        return self._total

    def _expire(self, now: float) -> None:
        while self._spent and self._spent[0][0] + self.window_s <= now:
            self._total -= self._spent.popleft()[1]


def window_start(now: float, window_s: float) -> int:
    """The fixed window ``now`` falls in, as its start in whole seconds."""
    return int(now // window_s * window_s)
