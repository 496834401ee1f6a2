"""Threads join on any known reference: whatever order the messages of a conversation
arrive in, one at a time, all at once, or spread over racing replicas, they end in one
thread, named after the smallest root its messages claim."""

import asyncio
import itertools
import random

import pytest

from crm_schemas.ids import thread_id
from crm_schemas.mail import RawMessage
from matcher.adapters.memory import InMemoryThreadIndex
from matcher.conversations import ThreadJoiner
from matcher.rules.threads import Claim, Known, claim_of, plan_threads, surviving_root
from tests.unit.matcher.builders import message

WS = "w1"


def mail(own: str, *references: str, reply_to: str | None = None) -> RawMessage:
    return message(item_id=own, message_id=own, references=references, in_reply_to=reply_to)


# A conversation whose ids arrive in a bad shape:
#   p1 starts it; p2 answers p1;
#   p3 answers p2, but its first reference (a0, the smallest id) was never synced;
#   p4 answers q0, which was never synced either: alone, it looks like another thread;
#   p5 answers p3 and names q0 too: it proves the two are one.
CONVERSATION = [
    mail("p1@h"),
    mail("p2@h", "p1@h", reply_to="p1@h"),
    mail("p3@h", "a0@h", "p2@h", reply_to="p2@h"),
    mail("p4@h", "q0@h", reply_to="q0@h"),
    mail("p5@h", "q0@h", "p3@h", reply_to="p3@h"),
]
SMALLEST_CLAIMED_ROOT = "a0@h"


def test_a_message_claims_its_first_reference_then_its_reply_to_then_itself() -> None:
    assert claim_of(mail("m@x", "Root@X", "mid@x", reply_to="mid@x")) == Claim(
        "Root@x", ("m@x", "Root@x", "mid@x")
    )
    assert claim_of(mail("m@x", reply_to="<r@X>")).root == "r@x"
    assert claim_of(mail("m@x")) == Claim("m@x", ("m@x",))


def test_a_reply_whose_first_reference_is_unknown_joins_the_message_it_answers() -> None:
    known = Known(entries={"p1@h": "p1@h", "p2@h": "p1@h"})

    plan = plan_threads([claim_of(CONVERSATION[2])], known)

    assert plan.roots == ["a0@h"]
    assert plan.links == {"p1@h": "a0@h"}  # the older thread joins the smaller root
    assert plan.entries == {"p3@h": "a0@h", "a0@h": "a0@h"}


def test_a_message_of_an_unrelated_conversation_stays_alone() -> None:
    plan = plan_threads([claim_of(mail("z@h"))], Known(entries={"p1@h": "p1@h"}))
    assert (plan.roots, plan.links) == (["z@h"], {})


def final_threads(assigned: dict[str, str], merges: dict[str, str]) -> set[str]:
    """Where each message ends once every published merge is applied."""
    return {surviving_root(root, merges) for root in assigned.values()}


async def deliver(joiner: ThreadJoiner, batch: list[RawMessage], merges: dict[str, str]) -> dict:
    joined = await joiner.join(WS, [claim_of(m) for m in batch])
    for root, into in joined.merges.items():
        assert merges.setdefault(root, into) == into, "a root joined two different roots"
    await joiner.announced(WS, joined.merges)
    return {m.item_id: r for m, r in zip(batch, joined.roots, strict=True)}


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(CONVERSATION)))))
async def test_every_arrival_order_ends_in_one_thread_named_after_the_smallest_root(
    order: tuple[int, ...],
) -> None:
    joiner, merges, assigned = ThreadJoiner(InMemoryThreadIndex()), {}, {}

    for n in order:
        assigned |= await deliver(joiner, [CONVERSATION[n]], merges)

    assert final_threads(assigned, merges) == {SMALLEST_CLAIMED_ROOT}
    # the index has nothing left to announce: a message delivered again changes nothing
    again = await joiner.join(WS, [claim_of(CONVERSATION[order[0]])])
    assert again.merges == {}
    assert again.roots == [SMALLEST_CLAIMED_ROOT]


async def test_a_whole_conversation_in_one_batch_is_one_thread_at_once() -> None:
    merges: dict[str, str] = {}
    assigned = await deliver(ThreadJoiner(InMemoryThreadIndex()), CONVERSATION, merges)
    assert set(assigned.values()) == {SMALLEST_CLAIMED_ROOT}


@pytest.mark.parametrize("seed", range(40))
async def test_replicas_racing_on_one_conversation_converge(seed: int) -> None:
    chance = random.Random(seed)
    index = InMemoryThreadIndex(yield_between=True)  # reads and inserts interleave
    shuffled = chance.sample(CONVERSATION, len(CONVERSATION))
    replicas = [shuffled[n::3] for n in range(3)]  # partitions of three matcher replicas
    merges: dict[str, str] = {}

    async def replica(messages: list[RawMessage]) -> dict[str, str]:
        joiner, assigned = ThreadJoiner(index), {}
        for one in messages:
            assigned |= await deliver(joiner, [one], merges)
        return assigned

    results = await asyncio.gather(*(replica(r) for r in replicas))

    assigned = {k: v for result in results for k, v in result.items()}
    assert final_threads(assigned, merges) == {SMALLEST_CLAIMED_ROOT}


async def test_a_dropped_message_is_given_the_thread_its_conversation_is_in_and_joins_nothing():
    index = InMemoryThreadIndex()
    joiner = ThreadJoiner(index)
    first = mail("b1@x")
    await joiner.threads([first], [])
    await joiner.threads([mail("c2@x", "a0@x", "b1@x")], [])  # b1's conversation joins a0's
    entries, links = dict(index.entry_roots), dict(index.root_links)

    stranger = mail("z9@x", "y8@x")
    found = await joiner.threads([], [first, stranger])

    assert found.ids[first.item_id] == thread_id(first.workspace_id, "a0@x")
    assert found.ids[stranger.item_id] == thread_id(stranger.workspace_id, "y8@x")
    assert found.merges == {}
    assert (index.entry_roots, index.root_links) == (entries, links), "nothing inserted"
