"""Threads joined on any known reference: the matcher's conversations, kept in its own
index (``ports.ThreadIndex``) and decided by ``rules.threads``.

For a batch of one workspace's kept messages, ``ThreadJoiner.join`` reads what the index
knows of their ids (entries, then links until every root's is read), plans what to
insert, and inserts it. A dropped message joins nothing: its thread is only read
(``ThreadJoiner.surviving``), so its withdrawal reaches the thread its copy is on, if it
was ever kept (docs/adr/0021). An insert that finds an id taken lost a race to another replica
handling a message of the same conversation on another partition: the joiner reads
again and plans again, now joining what the other replica wrote. Every round either
succeeds or follows another replica's progress, so replicas converge on one root per
conversation, the smallest one its messages claim (docs/adr/0027).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from crm_schemas.ids import thread_id
from crm_schemas.mail import RawMessage
from matcher.ports import ThreadIndex
from matcher.rules.threads import (
    Claim,
    Known,
    claim_of,
    plan_threads,
    roots_to_read,
    surviving_root,
)

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


@dataclass(frozen=True, slots=True)
class BatchThreads:
    """The thread id of each message of a batch (by item id), and the merges to publish,
    per workspace (root -> smaller root)."""

    ids: dict[str, str]
    merges: dict[str, dict[str, str]]


def _by_workspace(messages: Sequence[RawMessage]) -> dict[str, list[RawMessage]]:
    by_workspace: dict[str, list[RawMessage]] = {}
    for message in messages:
        by_workspace.setdefault(message.workspace_id, []).append(message)
    return by_workspace


class ThreadJoiner:
    """Joins a batch's messages to their conversations in the index."""

    def __init__(self, index: ThreadIndex) -> None:
        self._index = index

    async def threads(
        self, kept: Sequence[RawMessage], dropped: Sequence[RawMessage]
    ) -> BatchThreads:
        """Each kept message joined to its conversation on any id it names; then each
        dropped one's thread as the index has it now (read only, after the batch's joins),
        for its withdrawal."""
        ids: dict[str, str] = {}
        merges: dict[str, dict[str, str]] = {}
        for workspace_id, messages in _by_workspace(kept).items():
            joined = await self.join(workspace_id, [claim_of(m) for m in messages])
            for message, root in zip(messages, joined.roots, strict=True):
                ids[message.item_id] = thread_id(workspace_id, root)
            if joined.merges:
                merges[workspace_id] = joined.merges
        for workspace_id, messages in _by_workspace(dropped).items():
            claimed = [claim_of(m).root for m in messages]
            now = await self.surviving(workspace_id, claimed)
            for message, root in zip(messages, claimed, strict=True):
                ids[message.item_id] = thread_id(workspace_id, now[root])
        return BatchThreads(ids, merges)

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

    async def surviving(self, workspace_id: str, roots: Sequence[str]) -> dict[str, str]:
        """Where each root's conversation is now (its links followed to the end), inserting
        nothing. A message once kept named its claimed root's conversation, so this is
        the thread its copy is on; a root the index never linked is its own."""
        links: dict[str, str] = {}
        asked: set[str] = set()
        wanted = set(roots)
        while wanted := wanted - asked:
            asked |= wanted
            found = await self._index.links(workspace_id, wanted)
            links |= {root: link.into for root, link in found.items()}
            wanted = set(links.values())
        return {root: surviving_root(root, links) for root in roots}

    async def announced(self, workspace_id: str, merges: dict[str, str]) -> None:
        """Note that these merges were published."""
        await self._index.announce(workspace_id, merges)
