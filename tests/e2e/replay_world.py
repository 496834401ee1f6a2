"""The replay end-to-end tests' world: a fixed corpus in Dovecot and Radicale, snapshots of
every timeline, person and company of it through the API, and "the pipeline, replays
included, has done everything"."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import seed
from localsystem import LocalSystem

from crm_schemas import groups as names
from crm_schemas.topics import Topics
from tests.e2e.harness import consumer_lag, eventually

OWN = "acme.test"
EXTERNAL = ("client.test", "vendor.test", "blocked.test", "partner.test")


@dataclass(frozen=True)
class Corpus:
    """The addresses of one test run's corpus."""

    unique: str

    @property
    def alice(self) -> str:
        return f"alice-{self.unique}@{OWN}"

    @property
    def carol(self) -> str:
        return f"carol-{self.unique}@{OWN}"

    def at(self, domain: str, name: str) -> str:
        return f"{name}-{self.unique}@{domain}"

    @property
    def people(self) -> tuple[str, ...]:
        """Every external address of the corpus but the second mailbox's."""
        return tuple(
            self.at(d, n)
            for d, n in (("client.test", "jane"), ("vendor.test", "kim"), ("blocked.test", "sam"))
        )


def seed_alice(stack: Any, corpus: Corpus) -> None:
    """Alice's mailbox: a conversation with a client (Sent and INBOX), a message from a
    vendor she never wrote to, a thread with someone she will block, an internal
    message, and a project thread in a folder of its own."""
    now = datetime.now(UTC).replace(microsecond=0)
    jane, kim, sam = (corpus.at(*p) for p in (("client.test", "jane"), ("vendor.test", "kim"),
                                                ("blocked.test", "sam")))  # fmt: skip
    u, alice = corpus.unique, corpus.alice
    bob = f"bob-{u}@{OWN}"
    sent = [
        seed.build_message(message_id=f"proposal-{u}", sender=f"Alice <{alice}>",
                           to=[f"Jane Doe <{jane}>"], cc=[bob], subject="Proposal",
                           body="Our proposal.", sent_at=now - timedelta(hours=9)),
        seed.build_message(message_id=f"intro-{u}", sender=alice, to=[f"Sam Lee <{sam}>"],
                           subject="Intro", body="Hello Sam.", sent_at=now - timedelta(hours=8)),
    ]  # fmt: skip
    inbox = [
        seed.build_message(message_id=f"reply-{u}", sender=f"Jane Doe <{jane}>", to=[alice],
                           subject="Re: Proposal", body="Looks good.",
                           sent_at=now - timedelta(hours=7), in_reply_to=f"proposal-{u}"),
        seed.build_message(message_id=f"catalogue-{u}", sender=f"Kim Vendor <{kim}>", to=[alice],
                           subject="Catalogue", body="Our catalogue.",
                           sent_at=now - timedelta(hours=6)),
        seed.build_message(message_id=f"intro-reply-{u}", sender=f"Sam Lee <{sam}>", to=[alice],
                           subject="Re: Intro", body="Hi Alice.",
                           sent_at=now - timedelta(hours=5), in_reply_to=f"intro-{u}"),
        seed.build_message(message_id=f"lunch-{u}", sender=bob, to=[alice], subject="Lunch?",
                           body="Internal.", sent_at=now - timedelta(hours=4)),
    ]  # fmt: skip
    projects = [
        seed.build_message(message_id=f"plan-{u}", sender=f"Jane Doe <{jane}>", to=[alice],
                           subject="Project plan", body="The plan.",
                           sent_at=now - timedelta(hours=3)),
    ]  # fmt: skip
    for folder, messages in (("Sent", sent), ("INBOX", inbox), ("Projects", projects)):
        append(stack, alice, folder, messages)
    seed.ensure_caldav_user(Path(stack.caldav_users_file), alice, stack.imap_test_password)
    start = now + timedelta(days=2)
    events = [
        seed.build_event(uid=f"kickoff-{u}", summary="Kick-off", start=start,
                         end=start + timedelta(hours=1), organizer=alice, attendees=[jane]),
        seed.build_event(uid=f"review-{u}", summary="Review with Sam",
                         start=start + timedelta(days=1), end=start + timedelta(days=1, hours=1),
                         organizer=alice, attendees=[sam]),
        seed.build_event(uid=f"retro-{u}", summary="Retro", start=start + timedelta(days=2),
                         end=start + timedelta(days=2, hours=1), organizer=alice,
                         attendees=[jane]),
    ]  # fmt: skip
    seed.put_events(stack.caldav_url, alice, stack.imap_test_password, "work", events)


def seed_carol(stack: Any, corpus: Corpus, bulk: int) -> None:
    """Carol's mailbox: a thread with a partner, and ``bulk`` messages to as many people of
    a domain (so a replay of the workspace takes a while)."""
    now = datetime.now(UTC).replace(microsecond=0)
    u, carol = corpus.unique, corpus.carol
    messages = [
        seed.build_message(message_id=f"partnership-{u}", sender=carol,
                           to=[f"Lee Partner <{corpus.at('partner.test', 'lee')}>"],
                           subject="Partnership", body="Let us work together.",
                           sent_at=now - timedelta(hours=2)),
        *(seed.build_message(message_id=f"bulk{n}-{u}", sender=carol,
                             to=[f"person{n}-{u}@bulk.test"], subject=f"Offer {n}", body="Hi.",
                             sent_at=now - timedelta(days=1, minutes=n)) for n in range(bulk)),
    ]  # fmt: skip
    append(stack, carol, "Sent", messages)


def append(stack: Any, mailbox: str, folder: str, messages: list[bytes]) -> None:
    seed.append_messages(
        stack.imap_host, stack.imap_port, mailbox, stack.imap_test_password, folder, messages
    )


def account_body(stack: Any, mailbox: str, caldav: bool, **mail: Any) -> dict[str, Any]:
    login = {"username": mailbox, "password": stack.imap_test_password}
    body: dict[str, Any] = {
        "email": mailbox,
        "imap": {"host": stack.imap_host, "port": stack.imap_port, "tls": "none", **login},
        "mail": {"visibility": "subject", "contact_creation": "sent_only"} | mail,
    }
    if caldav:
        body["caldav"] = {"url": stack.caldav_url}
    return body


def consumer_groups(prefix: str) -> dict[str, list[str]]:
    """Every consumer group of a deployment and its input topics, replays included (the
    names the services subscribe with, ``crm_schemas.groups``)."""
    t = Topics(prefix)
    inputs = {
        names.FETCHER: [t.sync_requests],
        names.FETCHER_LOOKUPS: [t.lookup_requests],
        names.MATCHER: [t.mail_raw, t.calendar_raw],
        names.MATCHER_REPLAY_MAIL: [t.mail_replay],
        names.MATCHER_REPLAY_CALENDAR: [t.calendar_replay],
        names.MATCHER_RECORDS: [t.records],
        names.config(names.MATCHER): [t.config],
        names.ENRICHER: [t.mail_matched, t.calendar_matched],
        names.ENRICHER_COMMANDS: [t.record_commands],
        names.config(names.ENRICHER): [t.config],
        names.timeline("messages"): [t.timeline_messages],
        names.timeline("events"): [t.timeline_events],
        names.timeline("records"): [t.records],
        names.timeline("dropped"): [t.dropped],
        names.timeline("config"): [t.config],
        names.timeline("lookups"): [t.lookup_results],
        names.timeline("deadletters"): [t.dead_letter],
        names.TIMELINE_REPLAY: [t.replay_jobs],
        names.TIMELINE_INDEX: [t.timeline_index],
        names.TIMELINE_ROSTERS: [t.timeline_rosters],
    }
    return {f"{prefix}.{name}": topics for name, topics in inputs.items()}


async def drained(system: LocalSystem, within: float = 120) -> None:
    """Wait until every group has committed everything on its topics, replays included."""

    async def lag() -> int:
        every = consumer_groups(system.prefix).items()
        return sum([await consumer_lag(system.kafka_bootstrap, g, t) for g, t in every])

    await eventually(lag, lambda n: n == 0, system, within)


async def replayed(
    api: httpx.AsyncClient, system: LocalSystem, workspace: str, job_id: str
) -> dict[str, Any]:
    """Wait for a replay job to be done, then for the pipeline to be drained; the job."""

    async def job() -> dict[str, Any]:
        found = await api.get(f"/v1/workspaces/{workspace}/reprocess/{job_id}")
        assert found.status_code == 200, found.text
        return dict(found.json())

    done = await eventually(job, lambda j: j["state"] == "done", system, within=120)
    await drained(system)
    return done


async def _pages(api: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = await api.get(path, params={"limit": 100, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return items


def _participants(items: list[dict[str, Any]]) -> list[str]:
    return sorted(p["email"] for p in items)


async def _thread(api: httpx.AsyncClient, thread_id: str) -> dict[str, Any]:
    detail = (await api.get(f"/v1/threads/{thread_id}")).json()
    return {
        "subject": detail["subject"],
        "message_count": detail["message_count"],
        "last_activity": detail["last_activity"],
        "participants": _participants(detail["participants"]),
        "messages": [
            (m["message_id"], m["subject"], m["sent_at"], _participants(m["participants"]))
            for m in detail["messages"]
        ],
    }


async def _tabs(api: httpx.AsyncClient, kind: str, record_id: str) -> dict[str, Any]:
    threads = await _pages(api, f"/v1/{kind}/{record_id}/threads")
    events = await _pages(api, f"/v1/{kind}/{record_id}/events")
    return {
        "threads": [await _thread(api, t["id"]) for t in threads],
        "events": [
            (e["title"], e["starts_at"], e["visibility"], _participants(e["participants"]))
            for e in events
        ],
    }


async def snapshot(
    api: httpx.AsyncClient, addresses: tuple[str, ...], domains: tuple[str, ...]
) -> dict[str, Any]:
    """Every person of these addresses and company of these domains with their timelines,
    read through the API, without ids (so two workspaces can be compared)."""
    people: dict[str, Any] = {}
    for address in addresses:
        for person in (await api.get("/v1/people", params={"email": address})).json()["items"]:
            people[address] = {
                "name": person["name"],
                "emails": sorted(person["emails"]),
                "has_company": person.get("company_id") is not None,
                **await _tabs(api, "people", person["id"]),
            }
    companies: dict[str, Any] = {}
    for domain in domains:
        for company in (await api.get("/v1/companies", params={"domain": domain})).json()["items"]:
            companies[domain] = {
                "name": company["name"],
                **await _tabs(api, "companies", company["id"]),
            }
    return {"people": people, "companies": companies}


def timelines(snap: dict[str, Any]) -> dict[str, Any]:
    """Of a snapshot, the records that have anything on their timelines: what a replay
    and a fresh run must agree on (a replay never deletes a record, so a record made
    before a rule change stays, with empty tabs)."""
    return {
        kind: {k: v for k, v in records.items() if v["threads"] or v["events"]}
        for kind, records in snap.items()
    }


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two snapshots differ, one line per difference (for a failing assertion)."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = [f"{path}/{k}: only on the left" for k in a.keys() - b.keys()]
        found += [f"{path}/{k}: only on the right" for k in b.keys() - a.keys()]
        for key in a.keys() & b.keys():
            found += differences(a[key], b[key], f"{path}/{key}")
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for n, (x, y) in enumerate(zip(a, b, strict=True))
            for d in differences(x, y, f"{path}[{n}]")
        ]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]
