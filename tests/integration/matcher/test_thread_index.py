"""The matcher's thread index on the real FerretDB: the same contract as its in-memory
fake, and replicas racing on one conversation through it converge."""

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from crm_runtime.mongo import connect
from matcher.adapters.memory import InMemoryThreadIndex
from matcher.adapters.thread_index import MongoThreadIndex
from matcher.conversations import ThreadJoiner
from matcher.ports import Link
from matcher.rules.threads import claim_of, surviving_root
from matcher.settings import MatcherSettings
from tests.unit.matcher.test_threads import CONVERSATION, SMALLEST_CLAIMED_ROOT, WS

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(isolated: dict[str, str]) -> AsyncIterator[Any]:
    settings = MatcherSettings(
        mongo_url=isolated["mongo_url"], mongo_db=f"{isolated['mongo_db_prefix']}_matcher"
    )
    client = connect(settings)
    yield client[settings.mongo_db]
    await client.drop_database(settings.mongo_db)
    await client.close()


@pytest.fixture(params=["memory", "mongo"])
def index(request: pytest.FixtureRequest, db: Any) -> Any:
    return InMemoryThreadIndex() if request.param == "memory" else MongoThreadIndex(db)


async def test_entries_and_links_are_inserted_once_and_a_taken_one_is_told(index: Any) -> None:
    assert await index.insert(WS, {"a@x": "a@x", "b@x": "a@x"}, {"c@x": "a@x"})

    lost = await index.insert(WS, {"b@x": "z@x", "d@x": "d@x"}, {})
    await index.announce(WS, ["c@x"])

    assert not lost
    assert await index.entries(WS, ["a@x", "b@x", "d@x", "e@x"]) == {
        "a@x": "a@x",
        "b@x": "a@x",
        "d@x": "d@x",
    }
    assert await index.links(WS, ["c@x", "a@x"]) == {"c@x": Link("a@x", announced=True)}
    assert await index.entries("another-workspace", ["a@x"]) == {}


@pytest.mark.parametrize("seed", range(3))
async def test_replicas_racing_on_one_conversation_converge_in_the_database(
    db: Any, seed: int
) -> None:
    chance = random.Random(seed)
    shuffled = chance.sample(CONVERSATION, len(CONVERSATION))
    merges: dict[str, str] = {}

    async def replica(messages: list[Any]) -> dict[str, str]:
        joiner, assigned = ThreadJoiner(MongoThreadIndex(db)), {}
        for message in messages:
            joined = await joiner.join(WS, [claim_of(message)])
            merges.update(joined.merges)
            assigned[message.item_id] = joined.roots[0]
        return assigned

    results = await asyncio.gather(*(replica(shuffled[n::2]) for n in range(2)))

    assigned = {k: v for result in results for k, v in result.items()}
    assert {surviving_root(r, merges) for r in assigned.values()} == {SMALLEST_CLAIMED_ROOT}
