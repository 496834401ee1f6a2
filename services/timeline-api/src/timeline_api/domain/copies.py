"""Which version of each account's copy of an item the timeline keeps (docs/adr/0021).

An item (a message, a meeting occurrence) reaches the timeline once per account that
has it: each such copy carries its version (when it was fetched; a removal carries the
version it withdraws, or when the removal was seen). A replay reprocesses old versions
while live traffic brings new ones, in any order between the two, so a delivery is
applied only if it is at least as new as what the timeline knows of that copy: a version
kept, or a removal. Newer or equal wins: a replay of the same version under new rules
applies; an older one changes nothing.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from crm_schemas.base import to_milliseconds


@dataclass(frozen=True, slots=True)
class Known:
    """What the timeline knows of an item's copies: by account, the version of the copy
    it keeps and the version of the copy's last removal; the version of the content."""

    versions: Mapping[str, datetime] = field(default_factory=dict)
    withdrawn: Mapping[str, datetime] = field(default_factory=dict)
    content: datetime | None = None

    def latest(self, account_id: str) -> datetime | None:
        """The newest version known of the account's copy, kept or removed."""
        seen = [v for v in (self.versions.get(account_id), self.withdrawn.get(account_id)) if v]
        return max(seen, default=None)


@dataclass(frozen=True, slots=True)
class CopyRemoved:
    """One account's copy of an item leaves the timeline, at this version."""

    item_id: str
    account_id: str
    version: datetime


def is_current(version: datetime | None, known: datetime | None) -> bool:
    """Whether a delivery at ``version`` is at least as new as ``known`` (a store keeps
    times to the millisecond, so they are compared so; an unknown version is current)."""
    if version is None or known is None:
        return True
    return to_milliseconds(version) >= to_milliseconds(known)


def takes(known: Known, account_id: str, version: datetime | None) -> bool:
    """Whether a version (or a removal) of the account's copy is applied: it is at least
    as new as everything known of that copy."""
    return is_current(version, known.latest(account_id))
