"""Threads that proved to be one, on the timeline: the messages of the thread that goes
move into the one that stays, whatever comes in between, and the read model hears of
both. The topic is played by a loop that hands each published event back, key by key."""

import itertools
from typing import Any

import pytest
from pydantic import BaseModel

from crm_schemas.ids import thread_id
from crm_schemas.mail import RawMessageRemoved, ThreadsMerged, TimelineMessage
from tests.integration.timeline_api.builders import mail
from tests.unit.timeline_api.test_projection import WS, World
from timeline_api.service.thread_merges import MailEvent, MailProjection


class Topic:
    """timeline.messages in memory: what the projection publishes comes back to it."""

    def __init__(self) -> None:
        self.waiting: list[tuple[str, BaseModel]] = []

    async def publish(self, events: Any) -> None:
        self.waiting += list(events)

    async def drain(self, projection: MailProjection) -> None:
        while self.waiting:
            _, event = self.waiting.pop(0)
            await projection.one(event)  # type: ignore[arg-type]


def setup() -> tuple[World, Topic, MailProjection]:
    world, topic = World(), Topic()
    merges = MailProjection(world.projection, world.timelines, world.feed, topic.publish)
    return world, topic, merges


def merged(gone: str, into: str) -> ThreadsMerged:
    return ThreadsMerged(
        workspace_id=WS, into_thread_id=thread_id(WS, into), from_thread_id=thread_id(WS, gone)
    )


async def test_a_merged_thread_moves_its_messages_into_the_thread_that_stays() -> None:
    world, topic, merges = setup()
    await merges.mail(
        [
            mail(WS, "a@x", subject="Pricing"),
            mail(WS, "b@x", root="b@x", minutes=5, subject="Re: Pricing"),
        ]
    )
    assert len(await world.threads_of("ann@client.test")) == 2

    await merges.mail([merged("b@x", "a@x")])
    await topic.drain(merges)

    assert await world.threads_of("ann@client.test") == [("Pricing", 2)]
    assert await world.timelines.thread(thread_id(WS, "b@x")) is None
    moved = await world.timelines.thread_messages(thread_id(WS, "a@x"), with_body=False)
    assert [m.message_id for m in moved] == ["a@x", "b@x"]
    gone, stays = world.feed.replaced
    assert (gone.before is not None, gone.after) == (True, None)
    assert stays.after is not None
    assert stays.after.message_count == 2


async def test_mail_for_a_thread_after_it_merged_goes_to_the_thread_that_stays() -> None:
    world, topic, merges = setup()
    await merges.mail([mail(WS, "a@x"), mail(WS, "b@x"), merged("b@x", "a@x")])
    late = mail(WS, "c@x", root="b@x", minutes=9)  # the matcher named it before the merge

    await merges.mail([late])
    await topic.drain(merges)

    assert await world.threads_of("ann@client.test") == [("Pricing", 3)]


def withdrawn(message: TimelineMessage, thread_root: str) -> RawMessageRemoved:
    """The matcher's withdrawal of ``message``'s copy, named after ``thread_root``."""
    return RawMessageRemoved(
        item_id=message.message.item_id,
        workspace_id=WS,
        account_id=message.message.account_id,
        message_id=message.message.message_id,
        thread_id=thread_id(WS, thread_root),
        folder="INBOX",
        reason="dropped",
        removed_at=message.message.fetched_at,
    )


async def test_a_copy_withdrawn_in_the_poll_of_its_message_leaves_in_order() -> None:
    world, topic, merges = setup()
    first, second = mail(WS, "a@x"), mail(WS, "b@x", root="a@x", minutes=5)

    await merges.mail([first, second, withdrawn(second, "a@x")])

    assert await world.threads_of("ann@client.test") == [("Pricing", 1)]
    assert topic.waiting == []


async def test_a_copy_withdrawn_from_a_thread_that_merged_leaves_the_thread_that_stays() -> None:
    world, topic, merges = setup()
    late = mail(WS, "b@x")
    await merges.mail([mail(WS, "a@x"), late, merged("b@x", "a@x")])
    await topic.drain(merges)
    assert await world.threads_of("ann@client.test") == [("Pricing", 2)]

    await merges.mail([withdrawn(late, "b@x")])  # named before the merge: sent on
    await topic.drain(merges)

    assert await world.threads_of("ann@client.test") == [("Pricing", 1)]
    stays = await world.timelines.thread_messages(thread_id(WS, "a@x"), with_body=False)
    assert [m.message_id for m in stays] == ["a@x"]


async def test_a_merge_delivered_again_changes_nothing() -> None:
    world, topic, merges = setup()
    await merges.mail([mail(WS, "a@x"), mail(WS, "b@x")])
    for _ in range(2):
        await merges.mail([merged("b@x", "a@x")])
        await topic.drain(merges)

    assert await world.threads_of("ann@client.test") == [("Pricing", 2)]


@pytest.mark.parametrize("order", list(itertools.permutations(range(5))))
async def test_chained_merges_in_any_order_end_in_the_last_thread(order: tuple[int, ...]) -> None:
    world, topic, merges = setup()
    steps: list[MailEvent] = [
        mail(WS, "c@x"),
        mail(WS, "b@x"),
        mail(WS, "a@x"),
        merged("c@x", "b@x"),
        merged("b@x", "a@x"),
    ]

    for n in order:
        await merges.mail([steps[n]])
        await topic.drain(merges)

    assert await world.threads_of("ann@client.test") == [("Pricing", 3)]
    assert await world.timelines.thread(thread_id(WS, "a@x")) is not None
