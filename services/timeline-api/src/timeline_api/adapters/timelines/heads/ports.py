"""What the heads read model's handlers need: its documents by id, and a publisher.

The MongoDB adapters are in ``heads.mongo``, the in-memory fakes in ``heads.memory``;
one contract test suite runs against both.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from crm_runtime.bus import Outgoing
from timeline_api.adapters.timelines.heads.index_rules import Head
from timeline_api.adapters.timelines.heads.roster_rules import Membership, Roster


class HeadStore(Protocol):
    """The timeline index's heads, by index key."""

    async def heads(self, keys: Sequence[str]) -> dict[str, Head]:
        """The stored heads of these keys (a key without one is left out)."""
        ...

    async def save(self, heads: Mapping[str, Head]) -> None:
        """Replace these heads."""
        ...


class RosterStore(Protocol):
    """The company rosters, by company id."""

    async def rosters(self, company_ids: Sequence[str]) -> dict[str, Roster]:
        """The stored rosters of these companies (a company without one is left out)."""
        ...

    async def save(self, rosters: Mapping[str, Roster]) -> None:
        """Replace these rosters."""
        ...


class MembershipStore(Protocol):
    """Where each person was last put on the rosters, by person id."""

    async def memberships(self, person_ids: Sequence[str]) -> dict[str, Membership]:
        """The stored memberships of these people (a person without one is left out)."""
        ...

    async def save(self, memberships: Mapping[str, Membership]) -> None:
        """Replace these memberships."""
        ...


class Outbox(Protocol):
    """Publishes many events at once, durably, in order within a key."""

    async def publish_all(self, outgoing: Iterable[Outgoing]) -> None:
        """Publish (topic, key, event) triples; return once Kafka has every one."""
        ...
