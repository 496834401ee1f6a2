"""The timeline API's store survives restarts on the real FerretDB."""

from typing import Any

import pytest
from pymongo import AsyncMongoClient

from timeline_api.adapters.timeline_store import TimelineStore

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_creating_the_indexes_again_at_the_next_start_is_harmless(
    isolated: dict[str, str],
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(isolated["mongo_url"])
    name = f"{isolated['mongo_db_prefix']}_timeline"
    try:
        store = TimelineStore(client[name])
        await store.create_indexes()
        await store.create_indexes()  # the next start of the service
        await store.ping()
        indexes = await client[name]["threads"].index_information()
        assert "participant_emails_1_last_activity_-1" in indexes
    finally:
        await client.drop_database(name)
        await client.close()
