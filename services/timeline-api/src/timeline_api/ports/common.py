"""What every area's ports share: publishing on the bus, and whether the database answers."""

from collections.abc import Awaitable, Callable
from typing import Protocol

from pydantic import BaseModel

Publish = Callable[[str, BaseModel], Awaitable[None]]
"""Publish one event under its key on a topic the caller bound (config, sync requests,
records)."""
RawPublish = Callable[[str, str | None, bytes], Awaitable[None]]
"""Publish bytes as they are, under a key (or none), on a topic: a dead letter's original
payload, re-driven to the topic it came from."""


class Health(Protocol):
    """Whether the read model's database answers."""

    async def ping(self) -> None:
        """Return when the database answers; raise ``UnavailableError`` when it does not."""
        ...


class UnavailableError(Exception):
    """The database did not answer; the message names what went wrong."""
