"""Writes the services rely on, on the real FerretDB: only-if-newer versions (its dates
keep milliseconds) and bulks of updates."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, UpdateOne
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


async def test_one_bulk_of_hundreds_of_updates_is_answered(
    people: AsyncCollection[dict[str, Any]],
) -> None:
    """FerretDB 1.24.2 held every statement's read until the whole command ended, so the
    100th update of one command waited forever for a connection (patched, docs/adr/0012)."""
    await people.insert_many([{"_id": f"p{i}", "announced": False} for i in range(300)])
    marks = [UpdateOne({"_id": f"p{i}"}, {"$set": {"announced": True}}) for i in range(300)]

    result = await asyncio.wait_for(people.bulk_write(marks, ordered=False), timeout=60)

    assert result.modified_count == 300
    assert await people.count_documents({"announced": True}) == 300
