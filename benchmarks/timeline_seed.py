"""The timeline benchmark's seed: a big person's and a big company's threads written
straight into the timeline API's collections, in the shape the projection writes them
(benchmarks/bench_timeline.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.database import Database

from crm_schemas import ids
from crm_schemas.mail import Participant, ParticipantRole
from crm_schemas.records import CompanyUpserted, PersonUpserted
from timeline_api.adapters.timeline_store import thread_doc
from timeline_api.adapters.timelines.heads.events import RosterEntry
from timeline_api.adapters.timelines.heads.index_rules import build_head, thread_keys
from timeline_api.adapters.timelines.heads.mongo import READY, head_doc
from timeline_api.adapters.timelines.heads.roster_rules import apply_entries, pack
from timeline_api.domain.model import Source, StoredMessage
from timeline_api.domain.threads import summarise_thread

PEOPLE = 200
BATCH = 2_000
OWNER = "owner@acme.test"
DOMAIN = "bigco.test"

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


def seed(db: Database[Doc], workspace: str, member_id: str) -> Seeded:
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
