"""The whole system as real processes on the local stack, one deployment per test."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from localsystem import LocalSystem
from pymongo import AsyncMongoClient

from tests.conftest import delete_topics
from tests.e2e.harness import free_port


@pytest.fixture
def system(stack: Any, unique: str, tmp_path: Path) -> Iterator[LocalSystem]:
    """A deployment of its own: topics, groups and databases under the prefix e<unique>."""
    deployment = LocalSystem(
        kafka_bootstrap=stack.kafka_bootstrap,
        mongo_url=stack.mongo_url,
        prefix=f"e{unique}",
        api_port=free_port(),
        log_dir=tmp_path / "logs",
        extra_env={
            "FETCHER_SCHEDULE_INTERVAL_S": "3600",
            "TIMELINE_ALLOW_PRIVATE_HOSTS": "true",
            "FETCHER_ALLOW_PRIVATE_HOSTS": "true",
        },
    )
    yield deployment
    deployment.stop_all()
    delete_topics(stack.kafka_bootstrap, deployment.prefix)


@pytest.fixture
async def mongo(stack: Any) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    """A client of the stack's MongoDB, for assertions on what was stored."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_url, tz_aware=True)
    yield client
    await client.close()
