"""Replicas of timeline-api starting at once on a new database, on the real FerretDB.

Each start creates the read model's indexes that are missing. Two replicas can both find
an index missing and both ask for it; FerretDB 1.24 on SQLite then closes the connection
of one of them (a server-side panic). That replica's start used to end the process; it
now tries again and finds the index made (crm_runtime.service).
"""

import asyncio
from contextlib import AsyncExitStack

import pytest

from crm_runtime.service import build_runtime, running
from timeline_api.adapters.dead_letters import MongoDeadLetters
from timeline_api.adapters.timeline_store import TimelineStore
from timeline_api.settings import TimelineSettings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

REPLICAS = 4


async def test_replicas_starting_at_once_on_a_new_database_all_start(
    settings: TimelineSettings, db: object
) -> None:
    runtimes = [build_runtime(f"timeline-api#{i}", settings) for i in range(REPLICAS)]
    for runtime in runtimes:
        runtime.on_start.append(TimelineStore(runtime.db).create_indexes)
        runtime.on_start.append(MongoDeadLetters(runtime.db).create_indexes)

    async with AsyncExitStack() as started:
        await asyncio.gather(
            *(started.enter_async_context(running(r, consume=False)) for r in runtimes)
        )
        names = await runtimes[0].db["threads"].index_information()

    assert len(names) > 1, "no index of the read model was made"
