"""In-memory stand-ins for the heads read model's ports, for fast tests of its handlers."""

from collections.abc import Iterable, Mapping, Sequence

from crm_runtime.bus import Outgoing
from timeline_api.adapters.timelines.heads.index_rules import Head
from timeline_api.adapters.timelines.heads.roster_rules import Membership, Roster


class InMemoryHeads:
    """Heads in a dict, by index key."""

    def __init__(self) -> None:
        self.stored: dict[str, Head] = {}
        self.saves = 0

    async def heads(self, keys: Sequence[str]) -> dict[str, Head]:
        """The stored heads of these keys."""
        return {k: self.stored[k] for k in keys if k in self.stored}

    async def save(self, heads: Mapping[str, Head]) -> None:
        """Replace these heads."""
        self.stored.update(heads)
        self.saves += len(heads)


class InMemoryRosters:
    """Rosters in a dict, by company id."""

    def __init__(self) -> None:
        self.stored: dict[str, Roster] = {}

    async def rosters(self, company_ids: Sequence[str]) -> dict[str, Roster]:
        """The stored rosters of these companies."""
        return {c: dict(self.stored[c]) for c in company_ids if c in self.stored}

    async def save(self, rosters: Mapping[str, Roster]) -> None:
        """Replace these rosters."""
        self.stored.update({c: dict(r) for c, r in rosters.items()})


class InMemoryMemberships:
    """Memberships in a dict, by person id."""

    def __init__(self) -> None:
        self.stored: dict[str, Membership] = {}

    async def memberships(self, person_ids: Sequence[str]) -> dict[str, Membership]:
        """The stored memberships of these people."""
        return {p: self.stored[p] for p in person_ids if p in self.stored}

    async def save(self, memberships: Mapping[str, Membership]) -> None:
        """Replace these memberships."""
        self.stored.update(memberships)


class RecordedOutbox:
    """Keeps what would be published, each ``publish_all`` call as one batch."""

    def __init__(self) -> None:
        self.batches: list[list[Outgoing]] = []

    async def publish_all(self, outgoing: Iterable[Outgoing]) -> None:
        """Keep the (topic, key, event) triples, in order."""
        self.batches.append(list(outgoing))

    def take(self, topic: str) -> list[Outgoing]:
        """Every triple published on ``topic`` since the last take, in order; the others
        stay."""
        taken = [o for batch in self.batches for o in batch if o[0] == topic]
        self.batches = [[o for o in batch if o[0] != topic] for batch in self.batches]
        return taken
