"""The whole system as real processes on the local stack, one deployment per test."""

import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from localsystem import LocalSystem
from pymongo import AsyncMongoClient

from tests.conftest import delete_topics
from tests.e2e.harness import free_port
from tests.e2e.outage_imports import Import
from tests.e2e.private_stack import PrivateStack


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


@pytest.fixture(scope="session")
def private_stack(tmp_path_factory: pytest.TempPathFactory, stack: Any) -> Iterator[PrivateStack]:
    """A Kafka and a FerretDB of the tests' own, on ports of their own: the ones fault
    tests kill (the shared stack is never killed)."""
    import os

    shared = Path(os.environ.get("STACK_DIR", Path(__file__).parents[2] / ".stack"))
    servers = PrivateStack.create(tmp_path_factory.mktemp("private-stack"), shared)
    servers.up()
    yield servers
    servers.down()


@pytest.fixture
async def imports(
    private_stack: PrivateStack, stack: Any, tmp_path: Path
) -> AsyncIterator[Callable[[], Import]]:
    """Makes imports on the private stack, each a deployment of its own (services,
    topics, groups, databases); stops their services at the end."""
    made: list[Import] = []

    def make() -> Import:
        token = f"{len(made)}{time.time_ns() % 10**9:09d}"
        made.append(Import(private_stack, stack, token, tmp_path / f"logs-{len(made)}"))
        return made[-1]

    yield make
    for one in made:
        await one.close()
