"""What Kubernetes asks a consumer process, and orderly rebalances.

A consumer is **ready** once it has joined each of its consumer groups (its first
assignment arrived, even an empty one), and **live** while its poll loop turns: the event
loop answers, and no handler has held one poll's records longer than ``handler_stall_s``
(Kafka evicts such a member anyway, at ``max.poll.interval.ms``). A small HTTP server on
``*_HEALTH_PORT`` answers ``/livez`` and ``/readyz`` (off when the port is not set).

Rebalances wait for the work in hand: when partitions are taken away (a replica joined or
left), the listener waits until no handler holds records of those partitions (each is
finished and its offset committed) before the group moves on, for up to
``rebalance_wait_s`` (also the group's rebalance timeout). A partition's next owner
therefore never starts on records its previous owner is still working on: one account's
sync jobs never run on two replicas at once, as long as a job ends within that wait.
A handler that only waits for a dependency that is down (crm_runtime.patience) asks
``releasing`` between two tries, and hands its poll back at once when its partitions are
being taken away or the process is stopping, rather than hold up either.
"""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from faststream import BaseMiddleware

log = logging.getLogger(__name__)
Partitions = frozenset[tuple[str, int]]
OnAssignment = Callable[[set[TopicPartition]], Awaitable[None]]


@dataclass(frozen=True)
class Verdict:
    """The answer to the probes, with why."""

    live: bool
    ready: bool
    waiting_for: tuple[str, ...]  # groups not joined yet
    stalled: tuple[str, ...]  # "topic/partition held 612 s"

    def body(self) -> dict[str, Any]:
        """The JSON the endpoints answer with."""
        return {
            "live": self.live,
            "ready": self.ready,
            "waiting_for": list(self.waiting_for),
            "stalled": list(self.stalled),
        }


def verdict(
    expected: Iterable[str],
    joined: Iterable[str],
    held_since: Iterable[tuple[Partitions, float]],
    *,
    now: float,
    stall_after_s: float,
    stopping: bool,
) -> Verdict:
    """Live unless a handler holds records past ``stall_after_s``; ready once every
    expected group is joined, and no longer once the process is stopping."""
    stalled = tuple(
        f"{','.join(f'{t}/{p}' for t, p in sorted(parts))} held {now - since:.0f} s"
        for parts, since in held_since
        if now - since > stall_after_s
    )
    waiting = tuple(sorted(set(expected) - set(joined)))
    live = not stalled
    return Verdict(live, live and not waiting and not stopping, waiting, stalled)


@dataclass
class ConsumerHealth:
    """The state the probes read: groups joined, and records in the handlers' hands."""

    stall_after_s: float
    rebalance_wait_s: float = 10.0
    clock: Callable[[], float] = time.monotonic
    expected: set[str] = field(default_factory=set)
    joined: set[str] = field(default_factory=set)
    stopping: bool = False
    _held: dict[int, tuple[Partitions, float]] = field(default_factory=dict)
    _revoking: set[tuple[str, int]] = field(default_factory=set)
    _tokens: "count[int]" = field(default_factory=count)
    _followers: dict[str, list[OnAssignment]] = field(default_factory=dict)

    def verdict(self) -> Verdict:
        """Live and ready, now."""
        return verdict(
            self.expected,
            self.joined,
            self._held.values(),
            now=self.clock(),
            stall_after_s=self.stall_after_s,
            stopping=self.stopping,
        )

    def hold(self, partitions: Partitions) -> int:
        """A handler took records of these partitions; returns the token to release."""
        token = next(self._tokens)
        self._held[token] = (partitions, self.clock())
        return token

    def release(self, token: int) -> None:
        """The handler is done with them (its outcome is settled)."""
        self._held.pop(token, None)

    def releasing(self, partitions: Partitions) -> bool:
        """Whether work on records of ``partitions`` that only waits should be handed back:
        a rebalance is taking one of them away, or the process is stopping."""
        return self.stopping or not self._revoking.isdisjoint(partitions)

    def holds_any(self, partitions: set[TopicPartition]) -> bool:
        """Whether a handler still holds records of one of these partitions."""
        wanted = {(tp.topic, tp.partition) for tp in partitions}
        return any(parts & wanted for parts, _ in self._held.values())

    async def drained(self, partitions: set[TopicPartition], poll_s: float = 0.05) -> bool:
        """Wait until no handler holds records of ``partitions``, at most
        ``rebalance_wait_s``; False when that passed first."""
        deadline = self.clock() + self.rebalance_wait_s
        while self.holds_any(partitions):
            if self.clock() > deadline:
                return False
            await asyncio.sleep(poll_s)
        return True

    def follow(self, group: str, on_assignment: OnAssignment) -> None:
        """Call ``on_assignment`` with the group's partitions after every rebalance (an
        empty set while partitions are revoked)."""
        self._followers.setdefault(group, []).append(on_assignment)

    async def revoked(self, group: str, partitions: set[TopicPartition]) -> None:
        """A rebalance begins: let the handlers finish what they hold of ``partitions``."""
        moving = {(tp.topic, tp.partition) for tp in partitions}
        self._revoking |= moving
        try:
            if not await self.drained(partitions):
                log.warning(
                    "rebalance goes on while a handler holds records", extra={"group": group}
                )
        finally:
            self._revoking -= moving
        for follower in self._followers.get(group, []):
            await follower(set())

    async def assigned(self, group: str, partitions: set[TopicPartition]) -> None:
        """A rebalance ended: the group is joined, with these partitions."""
        self.joined.add(group)
        names = sorted(f"{tp.topic}/{tp.partition}" for tp in partitions)
        log.info("partitions assigned", extra={"group": group, "partitions": names})
        for follower in self._followers.get(group, []):
            await follower(set(partitions))

    def listener(self, group: str) -> ConsumerRebalanceListener:
        """The rebalance listener of one consumer group of this process."""
        self.expected.add(group)
        return _Listener(self, group)

    def middleware(self, msg: Any, /, **kwargs: Any) -> BaseMiddleware:
        """FastStream broker middleware that holds a poll's partitions while handled."""
        return _Holding(self, msg, **kwargs)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka has no types
    def __init__(self, health: ConsumerHealth, group: str) -> None:
        self._health = health
        self._group = group

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._health.revoked(self._group, revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._health.assigned(self._group, assigned)


class _Holding(BaseMiddleware):
    """Holds the partitions of the records being handled, until their outcome is settled."""

    def __init__(self, health: ConsumerHealth, msg: Any, **kwargs: Any) -> None:
        super().__init__(msg, **kwargs)
        self._health = health
        self._token: int | None = None

    async def on_receive(self) -> None:
        records = self.msg if isinstance(self.msg, tuple) else (self.msg,)
        parts = frozenset((r.topic, r.partition) for r in records if hasattr(r, "topic"))
        self._token = self._health.hold(parts)

    async def after_processed(self, *args: Any, **kwargs: Any) -> bool | None:
        if self._token is not None:
            self._health.release(self._token)
        return False


class HealthServer:
    """``GET /livez`` and ``GET /readyz`` over plain HTTP/1.1, 200 or 503 with a JSON body."""

    def __init__(self, health: ConsumerHealth, port: int, host: str = "0.0.0.0") -> None:  # noqa: S104 - the kubelet probes the pod's address
        self._health = health
        self._port = port
        self._host = host
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port it listens on (the one asked for, or the one given for 0)."""
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Listen; a second call does nothing."""
        if self._server is None:
            self._server = await asyncio.start_server(self._answer, self._host, self._port)
            log.info("health endpoint listening", extra={"port": self.port})

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            path = request.split(b" ", 2)[1].decode(errors="replace") if b" " in request else ""
            answer = self._health.verdict()
            if path == "/livez":
                ok = answer.live
            elif path == "/readyz":
                ok = answer.ready
            else:
                ok = None
            body = json.dumps(answer.body()).encode() if ok is not None else b"{}"
            status = {True: "200 OK", False: "503 Service Unavailable", None: "404 Not Found"}
            writer.write(
                f"HTTP/1.1 {status[ok]}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
