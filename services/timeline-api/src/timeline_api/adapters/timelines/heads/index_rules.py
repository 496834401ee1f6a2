"""The timeline index's rules: the newest threads of each address, host and company domain.

FerretDB on SQLite answers only ``_id`` equality without a scan (docs/adr/0007), so the
threads tab cannot filter the threads collection by address. Instead, one document per
index key (``<workspace>|a|<address>``, ``|h|<host of an address>``, ``|d|<company
domain>``) holds the newest ``HEAD_SIZE`` threads of that key with their last activity,
and a page is a few ``_id`` reads of those heads plus one per thread (docs/adr/0010).
Timelines still link by address at read time (docs/adr/0006): a record's keys come from
its addresses and domains when it is read, so a person created later sees the history.

A head that lost its oldest entries is ``truncated`` and remembers the newest entry it
dropped (``boundary``). Every entry missing from a head is at or below its boundary, so a
merged page is exact when all of its rows are above the boundaries of the truncated heads;
otherwise the caller answers from the threads collection (deep pages). Addresses on a
company's own domains are read through the host key, which may also list threads of
addresses that are not the company's people: the caller checks each thread it reads.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from timeline_api.domain.pagination import Cursor

HEAD_SIZE = 1000
"""Threads kept per key: pages up to this deep are served from the index."""
ROWS_KEPT = 64
"""Thread rows kept per key, for its newest threads: a first page of up to 63 threads
(50 by default) is served from the heads alone, without reading the threads."""

Key = tuple[datetime, str]
"""(last activity, thread id): the order of a threads tab, newest first."""


def address_key(workspace_id: str, address: str) -> str:
    return f"{workspace_id}|a|{address}"


def host_key(workspace_id: str, host: str) -> str:
    return f"{workspace_id}|h|{host}"


def domain_key(workspace_id: str, domain: str) -> str:
    return f"{workspace_id}|d|{domain}"


def _host(address: str) -> str:
    return address.rpartition("@")[2]


def thread_keys(
    workspace_id: str, participant_emails: Iterable[str], company_domains: Iterable[str]
) -> list[str]:
    """Every index key a thread is listed under: its addresses, their hosts, its domains."""
    emails = list(participant_emails)
    keys = [address_key(workspace_id, e) for e in emails]
    keys += [host_key(workspace_id, h) for h in dict.fromkeys(_host(e) for e in emails)]
    keys += [domain_key(workspace_id, d) for d in company_domains]
    return list(dict.fromkeys(keys))


def record_keys(
    workspace_id: str, emails: Sequence[str], domains: Sequence[str] | None = None
) -> list[str]:
    """The keys whose heads hold a record's timeline: the same threads as
    ``indexed.linked`` (any of its addresses, or any of its company domains).

    For a company, an address on one of its own domains is covered by that domain's host
    key, so only its people's other addresses are read one by one.
    """
    own = set(domains or ())
    keys = [domain_key(workspace_id, d) for d in own] + [host_key(workspace_id, d) for d in own]
    keys += [address_key(workspace_id, e) for e in emails if _host(e) not in own]
    return sorted(dict.fromkeys(keys))


@dataclass
class Head:
    """One key's newest threads; ``boundary`` is the newest entry ever dropped from it.

    ``rows`` holds, for some of the newest threads (at most ``ROWS_KEPT``), the thread's
    row as the projection announced it with the entry's last activity: a page takes those
    instead of reading the threads. A thread's row is dropped when an announcement comes
    without one (the thread lost this key, or the event predates rows).
    """

    entries: dict[str, datetime] = field(default_factory=dict)
    boundary: Key | None = None
    rows: dict[str, str] = field(default_factory=dict)

    @property
    def truncated(self) -> bool:
        return self.boundary is not None


Update = tuple[str, datetime | None, str | None]
"""(thread id, last activity, the thread's row at that activity or None); a last activity
of None takes the thread's entry away (it left the key)."""


def apply(
    head: Head,
    thread_id: str,
    last_activity: datetime,
    size: int = HEAD_SIZE,
    row: str | None = None,
) -> Head:
    """The head with a thread's newest last activity (and row) set, cut to ``size``
    newest entries.

    Setting is idempotent (a redelivery or a replay sets the same value again); a thread
    at or below the boundary is left out, since entries there are not trusted anyway.
    """
    return apply_all(head, [(thread_id, last_activity, row)], size)


def apply_all(head: Head, updates: Iterable[Update], size: int = HEAD_SIZE) -> Head:
    """The head with each (thread id, last activity, row) set (or, without a last activity,
    taken away) in turn, then cut once to the ``size`` newest entries: a poll's updates of
    one key in one pass. A thread taken away is no longer this key's, so the boundary
    (about the key's threads left out) does not move."""
    entries = dict(head.entries)
    rows = dict(head.rows)
    boundary = head.boundary
    for thread_id, last_activity, row in updates:
        entries.pop(thread_id, None)
        rows.pop(thread_id, None)
        if last_activity is None:
            continue
        if boundary is None or (last_activity, thread_id) > boundary:
            entries[thread_id] = last_activity
            if row is not None:
                rows[thread_id] = row
    if len(entries) > size:
        ordered = sorted(entries.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        dropped = max((at, tid) for tid, at in ordered[size:])
        boundary = dropped if boundary is None else max(boundary, dropped)
        entries = dict(ordered[:size])
    return Head(entries, boundary, _newest_rows(entries, rows))


def _newest_rows(entries: dict[str, datetime], rows: dict[str, str]) -> dict[str, str]:
    """The rows of listed threads, only of the ``ROWS_KEPT`` newest when there are more."""
    if len(rows) > len(entries):
        kept = {t: rows[t] for t in entries if t in rows}
    else:
        kept = {t: r for t, r in rows.items() if t in entries}
    if len(kept) <= ROWS_KEPT:
        return kept
    newest = sorted(kept, key=lambda t: (entries[t], t), reverse=True)[:ROWS_KEPT]
    return {t: kept[t] for t in newest}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def pack(entries: dict[str, datetime]) -> str:
    """A head's entries as one string, ``<epoch ms> <thread id>`` per line.

    One string value costs FerretDB 1.x far less to store and return than a list of
    subdocuments: reading a head of 1,000 entries took 20.6 ms as a list of
    ``{t, at}``, 4.4 ms as a list of strings and 1.1 ms as one string (docs/adr/0012).
    Times are kept to the millisecond, as MongoDB keeps them; a naive time is UTC (as
    a MongoDB client without ``tz_aware`` returns it).
    """
    return "\n".join(
        f"{(_aware(at) - _EPOCH) // timedelta(milliseconds=1)} {thread_id}"
        for thread_id, at in entries.items()
    )


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def unpack(packed: str) -> dict[str, datetime]:
    """The entries that ``pack`` made into a string (thread ids contain no spaces)."""
    words = packed.split()
    return {
        thread_id: _EPOCH + timedelta(milliseconds=int(ms))
        for ms, thread_id in zip(words[0::2], words[1::2], strict=True)
    }


def build_head(
    entries: Iterable[Key], size: int = HEAD_SIZE, rows: dict[str, str] | None = None
) -> Head:
    """The head that ``apply`` makes of these (last activity, thread id) entries, each
    with its thread's row from ``rows``, in one go (a benchmark's seed)."""
    newest: dict[str, datetime] = {}
    for at, thread_id in entries:
        if thread_id not in newest or at > newest[thread_id]:
            newest[thread_id] = at
    ordered = sorted(((at, tid) for tid, at in newest.items()), reverse=True)
    kept = {tid: at for at, tid in ordered[:size]}
    bound = ordered[size] if len(ordered) > size else None
    return Head(kept, bound, _newest_rows(kept, rows or {}))


def candidates(heads: Sequence[Head], cursor: Cursor | None) -> tuple[list[Key], Key | None]:
    """Every thread after ``cursor`` across the heads, newest first, and the bound at or
    below which they cannot be trusted (the newest boundary of a truncated head; None when
    no head is truncated, and then the list is the whole rest of the timeline)."""
    merged: dict[str, datetime] = {}
    for head in heads:
        for thread_id, at in head.entries.items():
            if thread_id not in merged or at > merged[thread_id]:
                merged[thread_id] = at
    after = None if cursor is None else (cursor.at, cursor.id)
    rows = sorted(
        ((at, tid) for tid, at in merged.items() if after is None or (at, tid) < after),
        reverse=True,
    )
    bounds = [h.boundary for h in heads if h.boundary is not None]
    return rows, max(bounds) if bounds else None


def known_rows(heads: Sequence[Head], rows: Sequence[Key]) -> dict[str, str]:
    """The rows the heads hold of these candidates at the activity they are listed at
    (a head that lags behind another for a thread has its older row, not taken)."""
    wanted = {tid: at for at, tid in rows}
    known: dict[str, str] = {}
    for head in heads:
        for thread_id, row in head.rows.items():
            if thread_id in wanted and head.entries.get(thread_id) == wanted[thread_id]:
                known[thread_id] = row
    return known


def trusted(row: Key, bound: Key | None) -> bool:
    """Whether every thread missing from the heads is older than ``row``."""
    return bound is None or row > bound
