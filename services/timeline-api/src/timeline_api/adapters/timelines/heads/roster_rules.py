"""Company rosters' rules: the people of each company with their addresses, read by ``_id``.

A company's Emails and Calendar tabs link its domains and every address of its people
(docs/adr/0006). Finding its people by ``company_id`` is a scan of the whole people
collection on FerretDB (docs/adr/0007): 20 ms for 200 people, and it grows with every
person of every workspace. So the projection keeps one roster document per company,
written by the one consumer of the rosters topic that owns the company (docs/adr/0014).

A person's entries come from their record's versions: each says which company they are
on now and with which addresses; a person who left a company (moved, or merged into
another person) leaves an empty entry behind, so a replayed older version cannot put
them back.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crm_schemas.base import to_milliseconds
from timeline_api.adapters.timelines.heads.events import RosterEntry

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Membership:
    """The company a person is on as of a version of their record (None: none)."""

    company_id: str | None
    emails: tuple[str, ...]
    version: datetime


Roster = dict[str, tuple[datetime, tuple[str, ...]]]
"""Person id -> (version, addresses) of one company."""


def membership_of(
    company_id: str | None, merged_into: str | None, emails: Iterable[str], version: datetime
) -> Membership:
    """Where a version of a person's record puts them: nowhere once merged into another
    person (their addresses are the survivor's now)."""
    if merged_into is not None:
        return Membership(None, (), version)
    return Membership(company_id, tuple(emails), version)


def roster_changes(
    before: Membership | None, now: Membership, workspace_id: str, person_id: str
) -> list[RosterEntry]:
    """The roster entries that take a person from ``before`` to ``now``: off the company
    they left, onto the one they are on. Nothing for a version not newer than ``before``
    (a redelivery or a replay), nor for one that changes neither company nor addresses."""
    if before is not None and to_milliseconds(now.version) <= to_milliseconds(before.version):
        return []
    if before is not None and (before.company_id, before.emails) == (now.company_id, now.emails):
        return []
    moves: list[tuple[str, tuple[str, ...]]] = []
    if before is not None and before.company_id not in (None, now.company_id):
        moves.append((before.company_id, ()))
    if now.company_id is not None:
        moves.append((now.company_id, now.emails))
    return [
        RosterEntry(
            workspace_id=workspace_id,
            company_id=company_id,
            person_id=person_id,
            emails=emails,
            version=now.version,
        )
        for company_id, emails in moves
    ]


def apply_entries(roster: Roster, entries: Iterable[RosterEntry]) -> Roster:
    """The roster with each entry set unless the person has a newer one already."""
    changed = dict(roster)
    for entry in entries:
        version = to_milliseconds(entry.version)
        held = changed.get(entry.person_id)
        if held is None or version >= held[0]:
            changed[entry.person_id] = (version, entry.emails)
    return changed


def packed_emails(packed: str) -> list[str]:
    """Every address of every person on a packed roster, each once, in a stable order
    (its versions are not made into times: a company page reads nothing else)."""
    entries = json.loads(packed)
    return list(dict.fromkeys(e for pid in sorted(entries) for e in entries[pid][1]))


def pack(roster: Roster) -> str:
    """A roster as one string (``{person: [epoch ms, [addresses]]}`` in JSON): one string
    costs FerretDB 1.x a ninth of what a subdocument per person does (1.1 ms against
    9.1 ms for 200 people, docs/adr/0014)."""
    return json.dumps(
        {
            pid: [(at - _EPOCH) // timedelta(milliseconds=1), list(emails)]
            for pid, (at, emails) in roster.items()
        },
        separators=(",", ":"),
    )


def unpack(packed: str) -> Roster:
    """The roster that ``pack`` made into a string."""
    return {
        pid: (_EPOCH + timedelta(milliseconds=ms), tuple(emails))
        for pid, (ms, emails) in json.loads(packed).items()
    }
