"""Threads tabs of a big person and a big company under load (wrk), next to the bare query.

The timeline API's read model is seeded straight into its collections with
``insert_many`` in the shape the projection writes (``adapters/timeline_store.py`` and
``domain/model.py``; thread rows are summarised by the projection's own
``summarise_thread``): going through Kafka and the projection would take over an hour at
the pipeline's current rate (docs/benchmarks.md, mail benchmark), and this benchmark
measures reads. ``BENCH_TIMELINE_THREADS`` (default 10,000) threads of
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
seeded as their consumer writes them, docs/adr/0010, 0012, 0015). A company's page
learns its people's addresses from its roster (one read by ``_id``, docs/adr/0014); the
same page is then measured again without the rosters' ready mark, scanning the people
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import DESCENDING
from pymongo.database import Database

from benchmarks.figures import Declared, Figure, Result, at_most
from benchmarks.harness import ROOT, deployment, new_tag
from crm_schemas import ids
from crm_schemas.mail import Participant, ParticipantRole
from crm_schemas.records import CompanyUpserted, PersonUpserted
from timeline_api.adapters.timeline_store import thread_doc
from timeline_api.adapters.timelines.heads.events import RosterEntry
from timeline_api.adapters.timelines.heads.index_rules import (
    build_head,
    candidates,
    known_rows,
    record_keys,
    thread_keys,
)
from timeline_api.adapters.timelines.heads.mongo import READY, head_doc, head_from
from timeline_api.adapters.timelines.heads.roster_rules import apply_entries, pack
from timeline_api.adapters.timelines.indexed import linked
from timeline_api.domain.model import Source, StoredMessage
from timeline_api.domain.threads import summarise_thread

PEOPLE = 200
BATCH = 2_000
WRK_SECONDS = int(os.environ.get("BENCH_TIMELINE_WRK_S", "10"))
WRK_CONNECTIONS = [int(c) for c in os.environ.get("BENCH_TIMELINE_CONNECTIONS", "1,8").split(",")]
"""wrk runs once per count: one connection gives a request's own latency, eight show
how it queues on the 2 cores that wrk, the API and FerretDB share."""
BARE_RUNS = 20
BARE_BUDGET_MS = 5_000  # fewer runs when one takes seconds (a scan)
OWNER = "owner@acme.test"
DOMAIN = "bigco.test"
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

Doc = dict[str, Any]


@dataclass(frozen=True)
class Seeded:
    workspace_id: str
    person_id: str
    person_emails: list[str]
    company_id: str
    company_emails: list[str]
    threads: int
    messages: int


def _participant(email: str, workspace: str, role: ParticipantRole, company: str | None) -> Doc:
    internal = email.endswith("@acme.test")
    domain = None if internal or company is None else email.split("@")[1]
    return Participant(
        email=email,
        name=email.split("@")[0].title(),
        roles=(role,),
        internal=internal,
        person_id=None if internal else ids.person_id(workspace, email),
        company_id=company,
        company_domain=domain,
    ).model_dump()


def _thread_messages(
    workspace: str, n: int, outside: Sequence[tuple[str, str | None]], count: int, source: Source
) -> list[StoredMessage]:
    """``count`` messages of thread ``n``, an hour apart, between the owner and ``outside``."""
    root = f"<bench-thread-{n}@bench.test>"
    thread = ids.thread_id(workspace, root)
    start = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(minutes=37 * n)
    messages = []
    for i in range(count):
        people = [_participant(OWNER, workspace, ParticipantRole.FROM, None)] + [
            _participant(email, workspace, ParticipantRole.TO, company)
            for email, company in outside
        ]
        emails = tuple(ids.normalize_email(p["email"]) for p in people)
        domains = tuple(dict.fromkeys(p["company_domain"] for p in people if p["company_domain"]))
        message_id = root if i == 0 else f"<bench-{n}-{i}@bench.test>"
        messages.append(
            StoredMessage(
                item_id=ids.message_item_id(workspace, message_id),
                workspace_id=workspace,
                thread_id=thread,
                message_id=message_id,
                subject=f"Order {n}",
                sent_at=start + timedelta(hours=i),
                participants=tuple(Participant.model_validate(p) for p in people),
                participant_emails=emails,
                company_domains=domains,
                sources=(source,),
            )
        )
    return messages


def _message_doc(message: StoredMessage) -> Doc:
    """A message as ``MessageWrites.store_messages`` stores it (sources by account key)."""
    doc = message.model_dump(mode="json", exclude={"sources", "item_id"})
    doc |= {"_id": message.item_id, "sent_at": message.sent_at}
    doc["sources"] = {s.account_id: s.model_dump(mode="json") for s in message.sources}
    return doc


def _thread_docs(messages: list[StoredMessage]) -> tuple[Doc, Doc]:
    """The thread row and its members document as ``MessageWrites.store_messages`` writes
    them, less the summary inputs (which it completes from ``messages`` when it needs them)."""
    summary = summarise_thread(messages[0].thread_id, messages)
    row = thread_doc(summary)
    members = {"_id": summary.thread_id, "items": {m.item_id: m.item_id for m in messages}}
    return row, members


def _threads(workspace: str, threads: int, per_thread: int, source: Source) -> Iterator[Any]:
    """Every seeded thread's messages: the person's, the company's other people's, noise."""
    company = ids.company_id(workspace, DOMAIN)
    people = [f"person{i}@{DOMAIN}" for i in range(PEOPLE)]
    for n in range(threads):  # the person, with a colleague on every fourth thread
        outside = [(people[0], company)]
        if n % 4 == 0:
            outside.append((people[1 + n % (PEOPLE - 1)], company))
        yield _thread_messages(workspace, n, outside, per_thread, source)
    for n in range(threads, threads + threads // 2):  # the company's other people
        yield _thread_messages(workspace, n, [(people[1 + n % (PEOPLE - 1)], company)], 2, source)
    for n in range(threads + threads // 2, 2 * threads):  # other companies
        other = f"client{n % 500}@other{n % 50}.test"
        yield _thread_messages(workspace, n, [(other, ids.company_id(workspace, other))], 2, source)


def _records(workspace: str) -> tuple[list[Doc], Doc]:
    """The company's people and the company, as ``upsert_person``/``upsert_company`` store them."""
    company = CompanyUpserted(
        company_id=ids.company_id(workspace, DOMAIN), workspace_id=workspace, name="BigCo",
        domains=(DOMAIN,),
    )  # fmt: skip
    people = []
    for i in range(PEOPLE):
        email = f"person{i}@{DOMAIN}"
        person = PersonUpserted(
            person_id=ids.person_id(workspace, email), workspace_id=workspace,
            name=f"Person {i}", emails=(email,), company_id=company.company_id,
        )  # fmt: skip
        doc = person.model_dump(mode="json", exclude={"person_id"})
        people.append(doc | {"_id": person.person_id, "updated_at": person.updated_at})
    row = company.model_dump(mode="json", exclude={"company_id"})
    return people, row | {"_id": company.company_id, "updated_at": company.updated_at}


def _seed(db: Database[Doc], workspace: str, member_id: str) -> Seeded:
    threads = int(os.environ.get("BENCH_TIMELINE_THREADS", "10000"))
    per_thread = int(os.environ.get("BENCH_TIMELINE_PER_THREAD", "5"))
    account = ids.person_id(workspace, "bench-account")  # any stable id
    source = Source(account_id=account, visibility="subject", owner_member_id=member_id)
    people, company = _records(workspace)
    db["people"].insert_many(people)
    db["companies"].insert_one(company)
    pending: dict[str, list[Doc]] = {"messages": [], "threads": [], "thread_members": []}
    stored = {"messages": 0, "threads": 0}
    for messages in _threads(workspace, threads, per_thread, source):
        row, members = _thread_docs(messages)
        pending["messages"].extend(_message_doc(m) for m in messages)
        pending["threads"].append(row)
        pending["thread_members"].append(members)
        if len(pending["messages"]) >= BATCH:
            _flush(db, pending, stored)
    _flush(db, pending, stored)
    db["timeline_index"].insert_many(_heads(db))
    db["timeline_index"].insert_one({"_id": READY, "at": datetime.now(UTC)})
    db["company_rosters"].insert_many([_roster(people, company["_id"]), {"_id": READY}])
    return Seeded(
        workspace_id=workspace,
        person_id=people[0]["_id"],
        person_emails=list(people[0]["emails"]),
        company_id=company["_id"],
        company_emails=[e for p in people for e in p["emails"]],
        threads=stored["threads"],
        messages=stored["messages"],
    )


def _roster(people: list[Doc], company_id: str) -> Doc:
    """The company's roster as its consumer writes it from the people's entries."""
    entries = [
        RosterEntry(
            workspace_id=p["workspace_id"], company_id=company_id, person_id=p["_id"],
            emails=tuple(p["emails"]), version=p["updated_at"],
        )
        for p in people
    ]  # fmt: skip
    return {"_id": company_id, "packed": pack(apply_entries({}, entries))}


def _heads(db: Database[Doc]) -> list[Doc]:
    """The timeline index's heads of every seeded thread, as its consumer writes them
    (``build_head`` is what ``apply`` makes of the same entries one by one)."""
    entries: dict[str, list[tuple[datetime, str]]] = {}
    rows: dict[str, str] = {}
    fields = {f: 1 for f in ("workspace_id", "participant_emails", "company_domains")}
    for row in db["threads"].find({}, fields | {"last_activity": 1, "row": 1}):
        rows[row["_id"]] = row["row"]
        for key in thread_keys(
            row["workspace_id"], row["participant_emails"], row["company_domains"]
        ):
            entries.setdefault(key, []).append((row["last_activity"], row["_id"]))
    return [{"_id": key, **head_doc(build_head(e, rows=rows))} for key, e in entries.items()]


def _flush(db: Database[Doc], pending: dict[str, list[Doc]], stored: dict[str, int]) -> None:
    for name, docs in pending.items():
        if docs:
            db[name].insert_many(docs, ordered=False)
            stored[name] = stored.get(name, 0) + len(docs)
            docs.clear()


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
        seeded = await asyncio.to_thread(_seed, db, made["workspace_id"], made["member_id"])
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
