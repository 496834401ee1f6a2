"""The timeline index's rules: heads kept newest first, cut with a boundary, and pages
that are served from the heads only when they are exact."""

import random
from datetime import UTC, datetime, timedelta

from timeline_api.adapters.timelines.heads.index_rules import (
    ROWS_KEPT,
    Head,
    Key,
    address_key,
    apply,
    apply_all,
    build_head,
    candidates,
    domain_key,
    host_key,
    known_rows,
    pack,
    record_keys,
    thread_keys,
    trusted,
    unpack,
)
from timeline_api.adapters.timelines.heads.mongo import head_doc, head_from
from timeline_api.domain.pagination import Cursor

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _at(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def _fill(entries: list[Key], size: int) -> Head:
    head = Head()
    for at, thread_id in entries:
        head = apply(head, thread_id, at, size)
    return head


def test_a_thread_is_listed_under_its_addresses_their_hosts_and_its_domains() -> None:
    keys = thread_keys("ws", ["ann@client.test", "bob@client.test"], ["client.test"])
    assert keys == [
        address_key("ws", "ann@client.test"),
        address_key("ws", "bob@client.test"),
        host_key("ws", "client.test"),
        domain_key("ws", "client.test"),
    ]


def test_a_company_reads_its_domains_and_only_its_peoples_other_addresses() -> None:
    keys = record_keys("ws", ["ann@client.test", "ann@gmail.test"], ["client.test"])
    assert sorted(keys) == sorted(
        [
            domain_key("ws", "client.test"),
            host_key("ws", "client.test"),
            address_key("ws", "ann@gmail.test"),
        ]
    )
    assert record_keys("ws", ["ann@client.test"]) == [address_key("ws", "ann@client.test")]


def test_setting_a_thread_again_changes_nothing_and_a_newer_activity_moves_it() -> None:
    head = _fill([(_at(1), "a"), (_at(2), "b")], size=10)
    assert apply(head, "a", _at(1), 10) == head
    moved = apply(head, "a", _at(5), 10)
    assert moved.entries == {"a": _at(5), "b": _at(2)}
    assert not moved.truncated


def test_a_full_head_drops_its_oldest_and_remembers_the_newest_dropped() -> None:
    head = _fill([(_at(n), f"t{n}") for n in range(5)], size=3)
    assert set(head.entries) == {"t4", "t3", "t2"}
    assert head.boundary == (_at(1), "t1")
    assert apply(head, "old", _at(0), 3) == head  # below the boundary: not trusted anyway


def test_building_a_head_at_once_equals_applying_entries_one_by_one() -> None:
    rng = random.Random(7)
    entries = [(_at(rng.randrange(500)), f"t{rng.randrange(300)}") for _ in range(2000)]
    by_thread: dict[str, datetime] = {}
    for at, thread_id in entries:
        by_thread[thread_id] = max(at, by_thread.get(thread_id, at))
    newest = sorted(((at, tid) for tid, at in by_thread.items()), key=lambda e: e[0])
    assert build_head(newest, 50) == _fill(newest, 50)


def test_a_polls_updates_at_once_equal_applying_them_one_by_one() -> None:
    rng = random.Random(11)
    head = _fill([(_at(n), f"old{n}") for n in range(60)], size=40)
    clock = 60
    updates = []
    for _ in range(300):  # threads only get newer, as mail arrives
        clock += rng.randrange(3)
        thread_id = f"t{rng.randrange(80)}"
        row = None if rng.random() < 0.2 else f"row of {thread_id} at {clock}"
        updates.append((thread_id, _at(clock), row))
    one_by_one = head
    for thread_id, at, row in updates:
        one_by_one = apply(one_by_one, thread_id, at, 40, row)
    assert apply_all(head, updates, 40) == one_by_one


def test_a_head_updated_at_once_is_exact_above_its_boundary() -> None:
    rng = random.Random(5)
    head = _fill([(_at(rng.randrange(100)), f"t{n}") for n in range(30)], size=20)
    latest = {thread_id: at for thread_id, at in head.entries.items()}
    updates = [(f"t{rng.randrange(40)}", _at(rng.randrange(200)), None) for _ in range(100)]
    for thread_id, at, _ in updates:  # any order, even a thread moved back (a disconnection)
        latest[thread_id] = at
    after = apply_all(head, updates, 20)
    above = {t: at for t, at in latest.items() if trusted((at, t), after.boundary)}
    assert {t: at for t, at in after.entries.items() if trusted((at, t), after.boundary)} == above
    assert len(after.entries) <= 20


def test_a_head_keeps_the_last_announced_row_of_its_newest_threads_only() -> None:
    head = Head()
    for n in range(ROWS_KEPT + 10):
        head = apply(head, f"t{n:03d}", _at(n), row=f"row {n}")
    newest = [f"t{n:03d}" for n in range(10, ROWS_KEPT + 10)]
    assert sorted(head.rows) == newest
    assert head.rows["t073"] == "row 73"
    # Announced again without a row (it lost this key): its old row is not kept.
    head = apply(head, "t073", _at(73))
    assert "t073" not in head.rows
    assert head.entries["t073"] == _at(73)
    # A newer activity brings the newer row.
    head = apply(head, "t073", _at(200), row="row 73, replied")
    assert head.rows["t073"] == "row 73, replied"


def test_rows_are_taken_only_at_the_activity_a_page_lists_the_thread_at() -> None:
    behind = apply(Head(), "a", _at(1), row="a at 1")  # this key's head lags
    ahead = apply(apply(Head(), "a", _at(2), row="a at 2"), "b", _at(3))  # b has no row
    rows, _ = candidates([behind, ahead], None)
    assert rows == [(_at(3), "b"), (_at(2), "a")]
    assert known_rows([behind, ahead], rows) == {"a": "a at 2"}
    assert known_rows([behind], candidates([behind], None)[0]) == {"a": "a at 1"}


def test_pages_merge_heads_newest_first_without_duplicates_after_the_cursor() -> None:
    one = _fill([(_at(1), "a"), (_at(3), "c")], 10)
    two = _fill([(_at(2), "b"), (_at(3), "c")], 10)
    rows, bound = candidates([one, two], None)
    assert rows == [(_at(3), "c"), (_at(2), "b"), (_at(1), "a")]
    assert bound is None
    rows, _ = candidates([one, two], Cursor(_at(2), "b"))
    assert rows == [(_at(1), "a")]


def test_rows_at_or_below_a_truncated_heads_boundary_are_not_trusted() -> None:
    full = _fill([(_at(n), f"t{n}") for n in range(10)], size=4)
    small = _fill([(_at(0), "x"), (_at(20), "y")], size=4)
    rows, bound = candidates([full, small], None)
    assert bound == (_at(5), "t5")
    assert [r[1] for r in rows] == ["y", "t9", "t8", "t7", "t6", "x"]
    assert [trusted(r, bound) for r in rows] == [True, True, True, True, True, False]
    assert trusted(rows[0], None)


def test_packed_entries_come_back_as_they_went_in_to_the_millisecond() -> None:
    entries = {
        "6f1c2a9e-0000-5000-8000-000000000001": datetime(1999, 12, 31, 23, 59, 59, 999000, UTC),
        "6f1c2a9e-0000-5000-8000-000000000002": T0,
        "6f1c2a9e-0000-5000-8000-000000000003": datetime(2026, 12, 2, 1, 2, 3, 4000, UTC),
    }
    assert unpack(pack(entries)) == entries
    assert unpack(pack({})) == {}


def test_a_head_stored_before_entries_were_packed_still_reads() -> None:
    head = Head({"a": _at(1), "b": _at(2)}, boundary=(_at(0), "z"))
    old_shape = {
        "entries": [{"t": "a", "at": _at(1)}, {"t": "b", "at": _at(2)}],
        "boundary": {"at": _at(0), "t": "z"},
    }
    assert head_from(old_shape) == head
    assert head_from(head_doc(head)) == head


def test_a_heads_rows_are_stored_and_read_back_as_they_were() -> None:
    head = apply(
        apply(Head(), "a", _at(1), row='{"thread_id":"a","subject":"tab\\there"}'), "b", _at(2)
    )
    assert head_from(head_doc(head)) == head
    assert head_from({"packed": pack(head.entries), "boundary": None}).rows == {}  # older heads


def test_a_thread_that_left_a_key_leaves_its_head_and_the_boundary_stays() -> None:
    head = apply_all(Head(), [("t0", _at(0), None), ("t1", _at(1), "r1"), ("t2", _at(2), "r2")], 2)
    assert head.boundary == (_at(0), "t0")

    left = apply_all(head, [("t2", None, None)], 2)

    assert list(left.entries) == ["t1"]
    assert left.rows == {"t1": "r1"}
    assert left.boundary == head.boundary, "threads of the key left out are still older"
    assert apply_all(left, [("t9", None, None)], 2) == left, "a thread never listed: nothing"
