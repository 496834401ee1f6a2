"""Company rosters: where each version of a person puts them, and what a roster holds."""

from datetime import UTC, datetime, timedelta

from crm_schemas.base import to_milliseconds
from timeline_api.adapters.timelines.heads.events import RosterEntry
from timeline_api.adapters.timelines.heads.roster_rules import (
    Membership,
    Roster,
    apply_entries,
    membership_of,
    pack,
    packed_emails,
    unpack,
)
from timeline_api.adapters.timelines.heads.roster_rules import roster_changes as changes_in

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
WS = "ws"


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def entry(company: str, person: str, emails: tuple[str, ...], version: datetime) -> RosterEntry:
    return RosterEntry(
        workspace_id=WS, company_id=company, person_id=person, emails=emails, version=version
    )


def roster_changes(before: Membership | None, now: Membership, person: str) -> list[RosterEntry]:
    return changes_in(before, now, WS, person)


def roster_emails(roster: Roster) -> list[str]:
    return packed_emails(pack(roster))


def test_a_new_person_of_a_company_joins_its_roster() -> None:
    now = membership_of("acme", None, ["ann@acme.test"], at(1))
    assert roster_changes(None, now, "ann") == [entry("acme", "ann", ("ann@acme.test",), at(1))]


def test_a_person_without_a_company_is_on_no_roster() -> None:
    assert roster_changes(None, membership_of(None, None, ["ann@gmail.test"], at(1)), "ann") == []


def test_a_person_who_moves_leaves_the_old_roster_and_joins_the_new() -> None:
    before = Membership("acme", ("ann@acme.test",), at(1))
    now = membership_of("globex", None, ["ann@acme.test"], at(2))
    assert roster_changes(before, now, "ann") == [
        entry("acme", "ann", (), at(2)),
        entry("globex", "ann", ("ann@acme.test",), at(2)),
    ]


def test_a_new_address_updates_the_entry_on_the_same_roster() -> None:
    before = Membership("acme", ("ann@acme.test",), at(1))
    now = membership_of("acme", None, ["ann@acme.test", "ann@gmail.test"], at(2))
    assert roster_changes(before, now, "ann") == [
        entry("acme", "ann", ("ann@acme.test", "ann@gmail.test"), at(2))
    ]


def test_a_person_merged_into_another_leaves_the_roster() -> None:
    before = Membership("acme", ("ann@acme.test",), at(1))
    now = membership_of("acme", "ann-survivor", ["ann@acme.test"], at(2))
    assert roster_changes(before, now, "ann") == [entry("acme", "ann", (), at(2))]


def test_a_redelivered_or_older_version_changes_nothing() -> None:
    before = Membership("acme", ("ann@acme.test",), at(5))
    assert roster_changes(before, membership_of("globex", None, ["a@x.test"], at(5)), "a") == []
    assert roster_changes(before, membership_of("globex", None, ["a@x.test"], at(4)), "a") == []


def test_versions_compare_at_the_millisecond_a_stored_date_keeps() -> None:
    before = Membership("acme", ("ann@acme.test",), to_milliseconds(at(5)))  # as read back
    later_in_the_same_ms = at(5) + timedelta(microseconds=300)
    assert (
        roster_changes(before, membership_of("globex", None, ["a@x"], later_in_the_same_ms), "a")
        == []
    )


def test_a_rename_elsewhere_in_the_record_moves_nothing() -> None:
    before = Membership("acme", ("ann@acme.test",), at(1))
    assert roster_changes(before, membership_of("acme", None, ["ann@acme.test"], at(2)), "a") == []


def test_the_newest_entry_of_each_person_holds_whatever_the_arrival_order() -> None:
    joined = entry("acme", "ann", ("ann@acme.test",), at(1))
    left = entry("acme", "ann", (), at(2))
    bob = entry("acme", "bob", ("bob@acme.test",), at(1))
    in_order = apply_entries({}, [joined, bob, left])
    replayed = apply_entries(in_order, [joined])
    assert in_order == replayed == apply_entries({}, [left, bob, joined])
    assert roster_emails(in_order) == ["bob@acme.test"]


def test_every_address_of_every_member_once() -> None:
    roster = apply_entries(
        {},
        [
            entry("acme", "ann", ("ann@acme.test", "ann@gmail.test"), at(1)),
            entry("acme", "bob", ("bob@acme.test", "ann@gmail.test"), at(1)),
        ],
    )
    assert roster_emails(roster) == ["ann@acme.test", "ann@gmail.test", "bob@acme.test"]


def test_a_roster_packs_into_one_string_and_back() -> None:
    roster = apply_entries(
        {},
        [
            entry("acme", "ann", ('"odd, name"@acme.test', "ann@gmail.test"), at(1)),
            entry("acme", "bob", (), at(2)),
        ],
    )
    packed = pack(roster)
    assert isinstance(packed, str)
    assert unpack(packed) == roster
    assert (
        packed_emails(packed)
        == roster_emails(roster)
        == ['"odd, name"@acme.test', "ann@gmail.test"]
    )
