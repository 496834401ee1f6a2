"""Rate limiters: one per mailbox in this process, one per project shared by every replica.

A mailbox is synced by the one fetcher replica that owns its sync-requests partition, so
its limiter lives in memory. The project's quota is shared by every replica: it is a
set of numbered ticket documents per fixed window, claimed by inserting them by ``_id``
(ADR 0007, 0009), so replicas never need to talk to each other.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_runtime.mongo import Document
from fetcher.domain.quota import SlidingWindow, window_start

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
COLLECTION = "provider_quota"


class MailboxQuota:
    """Waits until a mailbox's sliding window has room for the units, then spends them."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        # Units are counted here when sent and at the provider when they arrive, and
        # requests in flight together may arrive in another order: a window 2% (and at
        # least 50 ms) longer keeps the two counts from disagreeing at the window's edge.
        self._window = SlidingWindow(limit, window_s + max(window_s * 0.02, 0.05))
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()

    async def acquire(self, units: int) -> None:
        """Return once ``units`` are spent within the quota."""
        async with self._lock:
            while (wait := self._window.wait_for(units, self._clock())) > 0:
                await self._sleep(wait)
            self._window.spend(units, self._clock())

    async def acquire_some(self, unit: int, wanted: int) -> int:
        """Spend ``unit`` units for each of as many of ``wanted`` items as fit now, at
        least one (waiting until one fits); how many.

        A batch that waited for a whole batch's units would leave the room a smaller
        request took (a list call's 5 units) unused until the next spending expires: a
        tenth of Gmail's quota, measured. Taking what fits keeps the window full.
        """
        async with self._lock:
            while (wait := self._window.wait_for(unit, self._clock())) > 0:
                await self._sleep(wait)
            count = max(1, min(wanted, self._window.room(self._clock()) // unit))
            self._window.spend(count * unit, self._clock())
            return count


class ProjectQuota:
    """A per-project quota per fixed window, shared by every replica through MongoDB.

    The window's budget is sold as numbered tickets of ``ticket_units``: a replica owns a
    ticket by inserting the document ``<project>:<window>:<n>`` for some ``n`` below
    ``limit // ticket_units``. Insert with a unique ``_id`` is the one write FerretDB makes
    atomic: concurrent ``$inc`` on one counter document loses updates there (measured:
    100 concurrent increments left 22, ADR 0009). Units of a ticket not spent in its
    window are given up, so the project never goes over, at the cost of a little slack.
    """

    def __init__(
        self,
        db: AsyncDatabase[Document],
        project: str,
        limit: int,
        window_s: float,
        ticket_units: int = 1000,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._collection = db[COLLECTION]
        self._project = project
        self._window_s = window_s
        self._ticket_units = min(ticket_units, limit)
        self._capacity = limit // self._ticket_units
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._window = -1
        self._balance = 0
        self._next = 0
        self._owned: list[str] = []

    async def acquire(self, units: int) -> None:
        """Return once ``units`` are covered by tickets of the current window."""
        async with self._lock:
            while True:
                now = self._clock()
                window = window_start(now, self._window_s)
                if window != self._window:
                    await self._forget_old_tickets()
                    self._window, self._balance, self._next = window, 0, 0
                if self._balance >= units:
                    self._balance -= units
                    return
                if not await self._buy_ticket(window):
                    await self._sleep(max(window + self._window_s - now, 0.01))

    async def acquire_some(self, unit: int, wanted: int) -> int:
        """Spend the units of all ``wanted`` items (a project's tickets are bought as
        needed); how many: all of them."""
        await self.acquire(unit * wanted)
        return wanted

    async def _buy_ticket(self, window: int) -> bool:
        """Own the next free ticket of the window; False when the window is sold out."""
        while self._next < self._capacity:
            key = f"{self._project}:{window}:{self._next}"
            self._next += 1
            try:
                await self._collection.insert_one({"_id": key, "units": self._ticket_units})
            except DuplicateKeyError:
                continue  # another replica owns it
            self._owned.append(key)
            self._balance += self._ticket_units
            return True
        return False

    async def _forget_old_tickets(self) -> None:
        owned, self._owned = self._owned, []
        await asyncio.gather(*(self._collection.delete_one({"_id": key}) for key in owned))

    async def sold(self, window: int) -> int:
        """Tickets of a window owned by anyone (for tests and operators)."""
        found = 0
        for n in range(self._capacity):
            if await self._collection.find_one({"_id": f"{self._project}:{window}:{n}"}):
                found += 1
        return found
