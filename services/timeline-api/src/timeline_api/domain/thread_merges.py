"""Threads that proved to be one, on the timeline's side (docs/adr/0027).

The matcher joins conversations on any Message-ID they share and says so with
``ThreadsMerged`` (into, from), which reaches the timeline on timeline.messages keyed by
the thread that goes, in order with that thread's messages. The thread's one consumer
then redirects it (whatever comes for it later goes on to the thread it merged into)
and sends ``ThreadAbsorbed`` keyed by the surviving thread, whose one consumer moves the
messages over: each thread is still written by one consumer only (docs/adr/0007). A
withdrawn copy (``RawMessageRemoved``) is routed like a message: it goes where its
thread's messages went.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Discriminator, Field, Tag

from crm_schemas.base import Event, kind_of, utcnow
from crm_schemas.mail import RawMessageRemoved, ThreadsMerged, TimelineMessage


class ThreadAbsorbed(Event):
    """The timeline API's own event (it sends it to itself): thread ``from_thread_id``
    takes no more mail, move its messages into ``into_thread_id``. Keyed by
    ``into_thread_id`` on timeline.messages, so the surviving thread's consumer does it."""

    type: Literal["thread_absorbed"] = "thread_absorbed"
    schema_version: Literal[1] = 1
    workspace_id: str
    into_thread_id: str
    from_thread_id: str
    at: datetime = Field(default_factory=utcnow)


ProjectedMail = Annotated[
    Annotated[TimelineMessage, Tag("message")]
    | Annotated[RawMessageRemoved, Tag("message_removed")]
    | Annotated[ThreadsMerged, Tag("threads_merged")]
    | Annotated[ThreadAbsorbed, Tag("thread_absorbed")],
    Discriminator(kind_of("message")),
]
"""What the projection reads on timeline.messages: the shared contract's messages,
withdrawn copies and merges, and its own absorptions."""

ThreadMail = TimelineMessage | RawMessageRemoved
"""What belongs to one thread, in the order it came: messages and withdrawn copies."""


@dataclass(frozen=True)
class Routed:
    """A poll's mail once redirects are known: messages and withdrawals to apply here (in
    their order), events to send on to the thread their thread merged into (key, event),
    absorptions to do here."""

    stay: list[ThreadMail] = field(default_factory=list)
    onwards: list[tuple[str, BaseModel]] = field(default_factory=list)
    absorb: list[ThreadAbsorbed] = field(default_factory=list)


def route_mail(
    messages: Iterable[ThreadMail],
    absorbs: Iterable[ThreadAbsorbed],
    redirects: Mapping[str, str],
) -> Routed:
    """Keep what is for a thread that did not merge; send the rest on, retargeted, to
    the thread it merged into (which may have merged on again: it sends it on in turn)."""
    routed = Routed()
    for message in messages:
        into = redirects.get(message.thread_id)
        if into is None:
            routed.stay.append(message)
        else:
            routed.onwards.append((into, message.model_copy(update={"thread_id": into})))
    for absorb in absorbs:
        into = redirects.get(absorb.into_thread_id)
        if into is None:
            routed.absorb.append(absorb)
        else:
            routed.onwards.append((into, absorb.model_copy(update={"into_thread_id": into})))
    return routed


def absorptions(merges: Iterable[ThreadsMerged]) -> list[tuple[str, BaseModel]]:
    """What a thread that merged sends the thread it merged into, keyed by that thread."""
    return [
        (
            m.into_thread_id,
            ThreadAbsorbed(
                workspace_id=m.workspace_id,
                into_thread_id=m.into_thread_id,
                from_thread_id=m.from_thread_id,
            ),
        )
        for m in merges
    ]
