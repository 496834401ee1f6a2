"""Threads joined on any known reference: the matcher's conversations, kept in its own
index (``ports.ThreadIndex``) and decided by ``rules.threads``.

For a batch of one workspace's kept messages, ``ThreadJoiner.join`` reads what the index
knows of their ids (entries, then links until every root's is read), plans what to
insert, and inserts it. An insert that finds an id taken lost a race to another replica
handling a message of the same conversation on another partition: the joiner reads
again and plans again, now joining what the other replica wrote. Every round either
succeeds or follows another replica's progress, so replicas converge on one root per
conversation, the smallest one its messages claim (docs/adr/0027).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from matcher.ports import ThreadIndex
from matcher.rules.threads import Claim, Known, plan_threads, roots_to_read

MAX_ROUNDS = 50
"""Rounds of read, plan, insert before the batch is retried as a whole."""


class ThreadIndexBusyError(Exception):
    """Other replicas kept changing the conversations of a batch; retried by delivery."""


@dataclass(frozen=True, slots=True)
class Joined:
    """The root each message's thread is named after (in the order of the claims), and
    the links whose ``ThreadsMerged`` is still to be published (root -> smaller root)."""

    roots: list[str]
    merges: dict[str, str]


class ThreadJoiner:
    """Joins a batch's messages to their conversations in the index."""

    def __init__(self, index: ThreadIndex) -> None:
        self._index = index

    async def join(self, workspace_id: str, claims: Sequence[Claim]) -> Joined:
        """Each message's root once its ids are in the index, and the merges to publish."""
        for _ in range(MAX_ROUNDS):
            known, unannounced = await self._read(workspace_id, claims)
            plan = plan_threads(claims, known)
            if await self._index.insert(workspace_id, plan.entries, plan.links):
                return Joined(plan.roots, unannounced | plan.links)
        raise ThreadIndexBusyError(f"conversations of {workspace_id} kept changing")

    async def _read(
        self, workspace_id: str, claims: Sequence[Claim]
    ) -> tuple[Known, dict[str, str]]:
        """Entries of every id, and the links of every root they lead to; which of those
        links' merges were not announced yet."""
        keys = {k for c in claims for k in c.keys}
        entries = await self._index.entries(workspace_id, keys)
        links: dict[str, str] = {}
        unannounced: dict[str, str] = {}
        asked: set[str] = set()
        while wanted := roots_to_read(claims, Known(entries, links)) - asked:
            asked |= wanted
            for root, link in (await self._index.links(workspace_id, wanted)).items():
                links[root] = link.into
                if not link.announced:
                    unannounced[root] = link.into
        return Known(entries, links), unannounced

    async def announced(self, workspace_id: str, merges: dict[str, str]) -> None:
        """Note that these merges were published."""
        await self._index.announce(workspace_id, merges)
