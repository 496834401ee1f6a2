"""Threads tabs of a big person and a big company under load (wrk), next to the bare query.

The timeline API's read model is seeded (benchmarks/timeline_seed.py) straight into its
collections with ``insert_many`` in the shape the projection writes
(``adapters/timeline_store.py`` and ``domain/model.py``; thread rows are summarised by
the projection's own ``summarise_thread``): going through Kafka and the projection would
take over an hour at the pipeline's current rate (docs/benchmarks.md, mail benchmark),
and this benchmark measures reads. ``BENCH_TIMELINE_THREADS`` (default 10,000) threads of
``BENCH_TIMELINE_PER_THREAD`` (5) messages each involve one person; the person's company
has 200 people, each of the others with threads of their own, and as many threads again
involve other companies (noise). Then only the timeline API runs (no projection
consumers), with an API key from ``crm-admin bootstrap``, and wrk (from Debian's
packages, ``scripts/stack.sh bench-tools``) asks for the first page (limit 50) of the
person's and of the company's threads tab: p50, p99 and requests/s. Next to it, in the
same run and with pymongo: the bare query the page used to be (same filter, sort and
limit on the threads collection: a scan on FerretDB) and the bare reads the page is now
(the timeline index's heads in one ``_id: {$in: ...}`` query, with the rows of their
newest threads, and the page's threads whose rows they lack in another; the heads are
seeded as their consumer writes them, docs/adr/0010, 0012, 0015). A company's page learns
its people's addresses from its roster (one read by ``_id``, docs/adr/0014); the same
page is then measured again without the rosters' ready mark, scanning the people
collection as it did before. Goal: p99 under 50 ms (issue 6).

As figures: each page's p50 and p99 at each connection count, next to the bare reads
behind the page (p50 of the index reads, and of the roster read for a company's page).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from pymongo import DESCENDING
from pymongo.database import Database

from benchmarks.figures import Declared, Figure, Result, at_most
from benchmarks.harness import ROOT, deployment, new_tag
from benchmarks.timeline_seed import DOMAIN, OWNER, Doc, seed
from timeline_api.adapters.timelines.heads.index_rules import (
    candidates,
    known_rows,
    record_keys,
)
from timeline_api.adapters.timelines.heads.mongo import READY, head_from
from timeline_api.adapters.timelines.indexed import linked

WRK_SECONDS = int(os.environ.get("BENCH_TIMELINE_WRK_S", "10"))
WRK_CONNECTIONS = [int(c) for c in os.environ.get("BENCH_TIMELINE_CONNECTIONS", "1,8").split(",")]
"""wrk runs once per count: one connection gives a request's own latency, eight show
how it queues on the 2 cores that wrk, the API and FerretDB share."""
BARE_RUNS = 20
BARE_BUDGET_MS = 5_000  # fewer runs when one takes seconds (a scan)
PAGES = ("person", "company")

_P99 = at_most(50, "issue 6: a page of 50")
_AGAINST = "the bare reads behind the page (pymongo, p50)"
FIGURES = tuple(
    Declared(f"{page}_page_p{q}_ms_c{c}", "ms", _P99 if q == 99 else None, _AGAINST)
    for page in PAGES
    for c in WRK_CONNECTIONS
    for q in (50, 99)
)
SMOKE = {
    "BENCH_TIMELINE_THREADS": "60",
    "BENCH_TIMELINE_PER_THREAD": "2",
    "BENCH_TIMELINE_WRK_S": "1",
}


def _wrk_path() -> str:
    """wrk from Debian's packages, unpacked into the stack's state folder if not yet there."""
    done = subprocess.run(  # noqa: S603 - our own script
        [str(ROOT / "scripts" / "stack.sh"), "bench-tools"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def _wrk(wrk: str, url: str, key: str, connections: int) -> dict[str, float]:
    """p50, p99 (ms), requests/s and non-2xx count of ``url`` under wrk."""
    threads = min(2, connections)
    done = subprocess.run(  # noqa: S603 - wrk from Debian, our arguments
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{WRK_SECONDS}s", "--latency",
         "--timeout", "30s", "-H", f"Authorization: Bearer {key}", url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    out = done.stdout
    latency = dict(re.findall(r"^\s*(50|99)(?:\.0+)?%\s+(\S+)\s*$", out, re.MULTILINE))
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    requests = re.search(r"(\d+) requests in", out)
    if set(latency) != {"50", "99"} or rate is None or requests is None:
        raise RuntimeError(f"wrk printed no latency distribution:\n{out}\n{done.stderr}")
    return {
        "p50_ms": round(_ms(latency["50"]), 1),
        "p99_ms": round(_ms(latency["99"]), 1),
        "requests_per_s": float(rate.group(1)),
        "requests": int(requests.group(1)),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def _first_page(url: str, key: str) -> int:
    """How many threads the first page has (checks the route answers before wrk runs)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - 127.0.0.1
        return len(json.load(response)["items"])


def _bare_index(db: Database[Doc], keys: list[str]) -> dict[str, float]:
    """The index path's reads with pymongo, as the API makes them: the heads in one
    ``_id: {$in: ...}`` query, then those of the first 51 threads whose rows the heads do
    not keep in another (none when they keep them all)."""
    times: list[float] = []
    read = 0
    for _ in range(BARE_RUNS):
        started = time.perf_counter()
        heads = [head_from(doc) for doc in db["timeline_index"].find({"_id": {"$in": keys}})]
        rows, _ = candidates(heads, None)
        known = known_rows(heads, rows[:51])
        missing = [t for _, t in rows[:51] if t not in known]
        found = list(db["threads"].find({"_id": {"$in": missing}})) if missing else []
        times.append((time.perf_counter() - started) * 1000)
        read = len(known) + len(found)
    if read != 51:
        raise RuntimeError(f"the bare index reads found {read} threads, not 51")
    return {"p50_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def _bare_people(db: Database[Doc], company: str, workspace: str) -> dict[str, float]:
    """How a company page learns its people's addresses, with pymongo: its roster read by
    ``_id`` (with the ready mark), next to the scan of the people it replaced."""
    results: dict[str, float] = {}
    reads: dict[str, Callable[[], object]] = {
        "roster_read": lambda: list(db["company_rosters"].find({"_id": {"$in": [READY, company]}})),
        "people_scan": lambda: list(
            db["people"].find({"workspace_id": workspace, "company_id": company}, {"emails": 1})
        ),
    }
    for name, read in reads.items():
        times = []
        for _ in range(BARE_RUNS):
            started = time.perf_counter()
            read()
            times.append((time.perf_counter() - started) * 1000)
        results[f"{name}_p50_ms"] = round(statistics.median(times), 1)
    return results


def _bare(db: Database[Doc], link: Doc) -> dict[str, float]:
    """The page's query as the store makes it, with pymongo: median and slowest of up to
    ``BARE_RUNS`` runs (at least 3)."""
    times: list[float] = []
    while len(times) < BARE_RUNS and (len(times) < 3 or sum(times) < BARE_BUDGET_MS):
        started = time.perf_counter()
        found = db["threads"].find(link).sort([("last_activity", DESCENDING), ("_id", DESCENDING)])
        rows = list(found.limit(51))
        times.append((time.perf_counter() - started) * 1000)
    if len(rows) != 51:
        raise RuntimeError(f"the bare query found {len(rows)} threads, not 51")
    return {"p50_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def _figures(results: dict[str, float | int | str]) -> tuple[Figure, ...]:
    """Each page's latencies next to the p50 of the bare reads behind it."""
    bare = {
        "person": float(results["person_bare_index_reads_p50_ms"]),
        "company": float(results["company_bare_index_reads_p50_ms"])
        + float(results["company_bare_roster_read_p50_ms"]),
    }
    declared = {d.name: d for d in FIGURES}
    return tuple(
        declared[f"{page}_page_p{q}_ms_c{c}"](
            float(results[f"{page}_http_c{c}_p{q}_ms"]), bare[page]
        )
        for page in PAGES
        for c in WRK_CONNECTIONS
        for q in (50, 99)
    )


async def run(stack: Any) -> Result:
    wrk = await asyncio.to_thread(_wrk_path)
    tag = new_tag("bench")
    results: dict[str, float | int | str] = {}
    async with deployment(stack, tag, services=(), env={"TIMELINE_CONSUME": "false"}) as bench:
        made = await asyncio.to_thread(
            bench.admin_json, "bootstrap", "--name", "Bench", "--domain", "acme.test",
            "--admin-email", OWNER,
        )  # fmt: skip
        db = bench.mongo[f"{tag}_timeline"]
        started = time.monotonic()
        seeded = await asyncio.to_thread(seed, db, made["workspace_id"], made["member_id"])
        results |= {
            "threads": seeded.threads,
            "messages": seeded.messages,
            "seed_s": round(time.monotonic() - started, 1),
        }
        bench.system.start("timeline-api")
        await asyncio.to_thread(bench.system.wait_for_api)
        ws, api = seeded.workspace_id, bench.system.api_url
        pages = {
            "person": (
                f"{api}/v1/people/{seeded.person_id}/threads?limit=50",
                linked(ws, seeded.person_emails),
                record_keys(ws, seeded.person_emails),
            ),
            "company": (
                f"{api}/v1/companies/{seeded.company_id}/threads?limit=50",
                linked(ws, seeded.company_emails, [DOMAIN]),
                record_keys(ws, seeded.company_emails, [DOMAIN]),
            ),
        }
        for name, (url, link, keys) in pages.items():
            results[f"{name}_page_threads"] = await asyncio.to_thread(
                _first_page, url, made["api_key"]
            )
            for connections in WRK_CONNECTIONS:
                measured = await asyncio.to_thread(_wrk, wrk, url, made["api_key"], connections)
                for key, value in measured.items():
                    results[f"{name}_http_c{connections}_{key}"] = value
            for key, value in (await asyncio.to_thread(_bare, db, link)).items():
                results[f"{name}_bare_scan_query_{key}"] = value
            for key, value in (await asyncio.to_thread(_bare_index, db, keys)).items():
                results[f"{name}_bare_index_reads_{key}"] = value
        for key, value in (
            await asyncio.to_thread(_bare_people, db, seeded.company_id, ws)
        ).items():
            results[f"company_bare_{key}"] = value
        # The company page as it was before rosters: without their ready mark it scans.
        db["company_rosters"].delete_one({"_id": READY})
        for connections in WRK_CONNECTIONS:
            url = pages["company"][0]
            measured = await asyncio.to_thread(_wrk, wrk, url, made["api_key"], connections)
            for key, value in measured.items():
                results[f"company_scanning_people_http_c{connections}_{key}"] = value
    results["wrk"] = f"-c{','.join(map(str, WRK_CONNECTIONS))} -d{WRK_SECONDS}s --latency"
    return Result(_figures(results), results)
