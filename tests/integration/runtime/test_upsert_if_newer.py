"""Only-if-newer writes on the real FerretDB, whose dates keep milliseconds."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from crm_runtime.mongo import upsert_if_newer

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture
async def people(isolated: dict[str, str]) -> AsyncIterator[AsyncCollection[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        isolated["mongo_url"], tz_aware=True
    )
    name = f"{isolated['mongo_db_prefix']}_versions"
    yield client[name]["people"]
    await client.drop_database(name)
    await client.close()


async def test_a_copy_already_stored_is_not_written_again_though_it_carries_microseconds(
    people: AsyncCollection[dict[str, Any]],
) -> None:
    version = datetime(2026, 12, 2, 12, 0, 0, 123456, tzinfo=UTC)

    assert await upsert_if_newer(people, "p", {"name": "Ann", "v": version}, "v")
    assert not await upsert_if_newer(people, "p", {"name": "Ann", "v": version}, "v")


async def test_a_stale_copy_never_replaces_a_newer_one(
    people: AsyncCollection[dict[str, Any]],
) -> None:
    first = datetime(2026, 12, 2, 12, 0, 0, 123456, tzinfo=UTC)
    merged = first + timedelta(milliseconds=1)
    await upsert_if_newer(people, "p", {"merged_into": None, "v": first}, "v")
    await upsert_if_newer(people, "p", {"merged_into": "q", "v": merged}, "v")

    assert not await upsert_if_newer(people, "p", {"merged_into": None, "v": first}, "v")
    stored = await people.find_one({"_id": "p"})
    assert stored is not None
    assert stored["merged_into"] == "q"
