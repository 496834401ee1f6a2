"""First sync of a CalDAV calendar through the whole pipeline, next to a bare REPORT.

``BENCH_CALENDAR_EVENTS`` events (default below; a quarter of them weekly series of
``SERIES_COUNT`` occurrences, all inside the sync window, each with an external attendee)
are put into a fresh Radicale calendar. The baseline is one bare calendar-query REPORT
of the same calendar with its data (``caldav`` ``calendar.search(event=True)``). The
pipeline is the four services as processes (scripts/localsystem.py, a prefix of its
own): from ``fetcher sync-now --kind calendar`` until every occurrence is in the
timeline's read model. Reports calendar objects per second for both, their ratio,
occurrences per second for the pipeline, and how long the fetcher took to publish them
all (until it stored the calendar's state, which it does after its last publish), and
the CPU seconds each service and server used meanwhile (``cpu_s_*``).

As figures: occurrences a second, next to the occurrences the bare REPORT delivered a
second (its objects a second times occurrences per object: the same ratio as objects to
objects; goal 0.7 as for mail), and the CPU milliseconds of every process an occurrence,
next to Radicale's CPU an occurrence serving the bare REPORT (no goal filed).
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import caldav

from benchmarks.figures import Declared, Result, at_least
from benchmarks.harness import cpu_details, deployment, new_tag, server_meter

DEFAULT_EVENTS = 5000
SERIES_COUNT = 4
PASSWORD = "test-password"  # noqa: S105 - the local stack's test password
SERVERS = ("kafka", "ferretdb", "radicale")

RATE = Declared(
    "occurrences_per_s", "occ/s", at_least(0.7, "issue 4 with issue 3's ratio", of_baseline=True),
    "bare calendar-query REPORT of the same calendar, in occurrences",
)  # fmt: skip
CPU = Declared("cpu_ms_per_occurrence", "ms", None, "Radicale's CPU serving the bare REPORT")
FIGURES = (RATE, CPU)
SMOKE = {"BENCH_CALENDAR_EVENTS": "20"}


def _vevent(n: int, start: datetime) -> str:
    begins = (start + timedelta(hours=n)).strftime("%Y%m%dT%H%M%SZ")
    rule = f"RRULE:FREQ=WEEKLY;COUNT={SERIES_COUNT}\r\n" if n % 4 == 0 else ""
    return (
        f"BEGIN:VEVENT\r\nUID:bench-{n}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:{begins}\r\n"
        f"DURATION:PT30M\r\n{rule}SUMMARY:Call {n}\r\nORGANIZER:mailto:owner@acme.test\r\n"
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:client{n % 500}@customer{n % 50}.test\r\n"
        "END:VEVENT\r\n"
    )


def _fill(stack: Any, user: str, count: int) -> str:
    """A Radicale user of its own with one calendar of ``count`` events."""
    with open(stack.caldav_users_file, "a", encoding="utf-8") as users:
        users.write(f"{user}:{PASSWORD}\n")
    url = stack.caldav_url
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=200)
    events = "".join(_vevent(n, start) for n in range(count))
    body = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crm-bench//EN\r\n{events}END:VCALENDAR\r\n"
    with caldav.DAVClient(url=url, username=user, password=PASSWORD) as client:
        calendar = cast(Any, client).principal().make_calendar(name="Bench")
        # one PUT of the whole collection (Radicale splits it by UID): a PUT per event
        # would take far longer than the sync being measured
        client.put(str(calendar.url), body, {"Content-Type": "text/calendar"})
        return str(calendar.url)


async def _bare(stack: Any, user: str, calendar_url: str) -> tuple[int, float, float]:
    """The bare REPORT: objects, seconds, and the CPU seconds Radicale spent on it."""
    radicale = server_meter(stack, ("radicale",))
    radicale.start()
    objects, seconds = await asyncio.to_thread(_bare_report, stack.caldav_url, user, calendar_url)
    return objects, seconds, sum(radicale.stop().values())


def _bare_report(url: str, user: str, calendar_url: str) -> tuple[int, float]:
    with caldav.DAVClient(url=url, username=user, password=PASSWORD) as client:
        calendar = cast(Any, client).calendar(url=calendar_url)
        started = time.monotonic()
        found = calendar.search(event=True)
        return len(found), time.monotonic() - started


async def _fetcher_done(states: Any, started: float) -> float:
    """Seconds from ``started`` until the fetcher stored the calendar's state, which it
    saves after its last publish (a collection of one document: cheap to count)."""
    while True:
        if await asyncio.to_thread(states.estimated_document_count):
            return time.monotonic() - started
        await asyncio.sleep(1)


async def run(stack: Any) -> Result:
    count = int(os.environ.get("BENCH_CALENDAR_EVENTS", DEFAULT_EVENTS))
    series = -(-count // 4)  # events 0, 4, 8, ... are weekly series
    occurrences = count - series + SERIES_COUNT * series
    tag = new_tag("benchcal")
    calendar_url = await asyncio.to_thread(_fill, stack, tag, count)
    objects, bare_s, bare_cpu_s = await _bare(stack, tag, calendar_url)
    async with deployment(stack, tag) as bench:
        workspace = bench.admin(
            "create-workspace", "--name", "Bench", "--domain", "acme.test", password=PASSWORD
        )
        account = bench.admin(
            "connect-account", "--workspace", workspace, "--email", "owner@acme.test",
            "--imap-host", stack.imap_host, "--imap-port", str(stack.imap_port),
            "--imap-tls", "none", "--username", tag, "--password-env", "BENCH_PASSWORD",
            "--caldav-url", stack.caldav_url, password=PASSWORD,
        )  # fmt: skip
        meter = bench.cpu_meter(stack, SERVERS)
        meter.start()
        started = time.monotonic()  # includes the fetcher waiting for the account's config
        await asyncio.to_thread(bench.sync_now, account, "calendar")
        states = bench.mongo[f"{tag}_fetcher"]["caldav_calendars"]
        fetched = asyncio.create_task(_fetcher_done(states, started))
        stored = await bench.wait_stored(
            stack, "timeline.events", "timeline-api.events", "events", occurrences, 1800
        )
        pipeline_s = time.monotonic() - started
        cpu = meter.stop()
        fetched_s = fetched.result() if fetched.done() else None
        fetched.cancel()
    bare_rate = objects / bare_s
    pipeline_rate = count / pipeline_s
    per_object = occurrences / count
    figures = (
        RATE(stored / pipeline_s, bare_rate * per_object),
        CPU(sum(cpu.values()) * 1000 / occurrences, bare_cpu_s * 1000 / (objects * per_object)),
    )
    return Result(
        figures,
        {
            "calendar_objects": count,
            "occurrences_expected": occurrences,
            "occurrences_on_timeline": stored,
            "bare_report_objects_per_s": round(bare_rate, 1),
            "pipeline_objects_per_s": round(pipeline_rate, 1),
            "pipeline_occurrences_per_s": round(stored / pipeline_s, 1),
            "pipeline_over_bare": round(pipeline_rate / bare_rate, 3),
            "pipeline_s": round(pipeline_s, 1),
            # the fetcher's part: until it stored the calendar's state, after its last publish
            "fetcher_s": round(fetched_s, 1) if fetched_s is not None else "not done",
            "fetcher_occurrences_per_s": round(occurrences / fetched_s, 1) if fetched_s else 0,
            "bare_report_cpu_s_radicale": round(bare_cpu_s, 2),
            **cpu_details(cpu),
        },
    )
