"""The matcher's thread index in memory (``ports.ThreadIndex``), for unit tests; the same
contract tests run against it and the MongoDB index."""

import asyncio
from collections.abc import Iterable, Mapping

from matcher.ports import Link


class InMemoryThreadIndex:
    """Entries and links in dicts, insert-only like the real one. ``yield_between`` lets
    other tasks run between a read and an insert, as replicas would interleave."""

    def __init__(self, yield_between: bool = False) -> None:
        self.entry_roots: dict[tuple[str, str], str] = {}
        self.root_links: dict[tuple[str, str], Link] = {}
        self._yield = yield_between

    async def _pause(self) -> None:
        if self._yield:
            await asyncio.sleep(0)

    async def entries(self, workspace_id: str, keys: Iterable[str]) -> dict[str, str]:
        """The root of each id seen before, by id."""
        await self._pause()
        return {k: r for k in keys if (r := self.entry_roots.get((workspace_id, k)))}

    async def links(self, workspace_id: str, roots: Iterable[str]) -> dict[str, Link]:
        """The link of each root that joined a smaller one, by root."""
        await self._pause()
        return {r: x for r in roots if (x := self.root_links.get((workspace_id, r)))}

    async def insert(
        self, workspace_id: str, entries: Mapping[str, str], links: Mapping[str, str]
    ) -> bool:
        """Insert what is new; False when any id was taken already."""
        await self._pause()
        taken = [k for k in entries if (workspace_id, k) in self.entry_roots]
        taken += [r for r in links if (workspace_id, r) in self.root_links]
        for key, root in entries.items():
            self.entry_roots.setdefault((workspace_id, key), root)
        for root, into in links.items():
            self.root_links.setdefault((workspace_id, root), Link(into, announced=False))
        return not taken

    async def announce(self, workspace_id: str, roots: Iterable[str]) -> None:
        """Mark these roots' links announced."""
        for root in roots:
            link = self.root_links[(workspace_id, root)]
            self.root_links[(workspace_id, root)] = Link(link.into, announced=True)
