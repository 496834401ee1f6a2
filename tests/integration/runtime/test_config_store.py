"""Each service's projection of the config topic, on the real FerretDB."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_runtime.config_store import ConfigStore
from crm_schemas.config import WorkspaceConfigured

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture
async def store(isolated: dict[str, str]) -> AsyncIterator[ConfigStore]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        isolated["mongo_url"], tz_aware=True
    )
    yield ConfigStore(client[f"{isolated['mongo_db_prefix']}_config"])
    await client.drop_database(f"{isolated['mongo_db_prefix']}_config")
    await client.close()


async def test_the_newest_version_of_a_workspace_wins_whatever_the_order(
    store: ConfigStore,
) -> None:
    now = datetime.now(UTC)
    newer = WorkspaceConfigured(
        workspace_id="w", name="Acme", domains=("acme.test", "acme.io"), updated_at=now
    )
    older = WorkspaceConfigured(
        workspace_id="w", name="Old", domains=("acme.test",), updated_at=now - timedelta(hours=1)
    )

    await store.apply(newer)
    await store.apply(older)
    await store.apply(newer)  # redelivered

    found = await store.workspace("w")
    assert found is not None
    assert found.name == "Acme"
    assert found.domains == ("acme.test", "acme.io")


async def test_an_unknown_workspace_is_none(store: ConfigStore) -> None:
    assert await store.workspace("nope") is None
