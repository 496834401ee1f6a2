"""Rate limiters: one per mailbox in this process, one per project shared by every replica.

A mailbox is synced by the one fetcher replica that owns its sync-requests partition, so
its limiter lives in memory. The project's quota is shared by every replica: it is a
MongoDB counter document per fixed window, updated atomically by ``_id`` (the only filter
FerretDB pushes down, ADR 0007), so replicas never need to talk to each other.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

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
        self._window = SlidingWindow(limit, window_s)
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()

    async def acquire(self, units: int) -> None:
        """Return once ``units`` are spent within the quota."""
        async with self._lock:
            while (wait := self._window.wait_for(units, self._clock())) > 0:
                await self._sleep(wait)
            self._window.spend(units, self._clock())


class ProjectQuota:
    """A per-project quota per fixed window, counted in MongoDB by every replica."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        project: str,
        limit: int,
        window_s: float,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._collection = db[COLLECTION]
        self._project = project
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._sleep = sleep

    async def acquire(self, units: int) -> None:
        """Return once ``units`` are counted in a window that had room for them."""
        while True:
            now = self._clock()
            key = f"{self._project}:{window_start(now, self._window_s)}"
            counted = await self._collection.find_one_and_update(
                {"_id": key},
                {"$inc": {"units": units}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            if counted is not None and int(counted["units"]) <= self._limit:
                return
            # Over the window's budget: give the units back and wait for the next window.
            await self._collection.update_one({"_id": key}, {"$inc": {"units": -units}})
            next_window = window_start(now, self._window_s) + self._window_s
            await self._sleep(max(next_window - now, 0.01))

    async def spent(self, now: float | None = None) -> int:
        """Units counted in the window of ``now``."""
        at = self._clock() if now is None else now
        doc = await self._collection.find_one(
            {"_id": f"{self._project}:{window_start(at, self._window_s)}"}
        )
        return int(doc["units"]) if doc else 0
