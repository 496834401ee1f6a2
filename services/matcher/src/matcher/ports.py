"""What the matcher needs from the outside world besides its runtime: its own index of
conversations (``ThreadIndex``). The MongoDB adapter and an in-memory fake implement it;
one contract test runs against both."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Link:
    """A root joined to a smaller one, and whether ``ThreadsMerged`` was published for it."""

    into: str
    announced: bool


class ThreadIndex(Protocol):
    """Message-ID -> root entries and root -> root links, per workspace, insert-only."""

    async def entries(self, workspace_id: str, keys: Iterable[str]) -> dict[str, str]:
        """The root each of these Message-IDs was first seen under, for those seen."""
        ...

    async def links(self, workspace_id: str, roots: Iterable[str]) -> dict[str, Link]:
        """The link of each of these roots that joined a smaller one."""
        ...

    async def insert(
        self, workspace_id: str, entries: Mapping[str, str], links: Mapping[str, str]
    ) -> bool:
        """Insert new entries and links; False when any of them existed already (another
        replica was first: read again and plan again), True when all were new."""
        ...

    async def announce(self, workspace_id: str, roots: Iterable[str]) -> None:
        """Note that the merges of these roots' links were published."""
        ...
