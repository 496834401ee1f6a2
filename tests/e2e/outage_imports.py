"""An import the fault tests watch: one deployment of the four services, one mailbox.

Each ``Import`` has its own topics, consumer groups and databases (a prefix of its own),
on the fault tests' private Kafka and FerretDB. It fills a fresh Dovecot mailbox with
MESSAGES sent messages, starts the services, connects the account through the API, and
at the end counts what reached the timeline, what is duplicated and what was
dead-lettered, and reads the account's status.
"""

import asyncio
import imaplib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from localsystem import LocalSystem
from pymongo import AsyncMongoClient

from crm_runtime.bus import delete_topics
from crm_schemas.topics import Topics
from tests.e2e.harness import consumer_lag, free_port, timeline_settings
from tests.e2e.private_stack import PrivateStack

OWN_DOMAIN = "acme.test"
MESSAGES = 3000
PEOPLE = 100  # recipients the messages are spread over
SETTLE_S = 150.0  # most a recovery may take before the test counts what is missing


async def when(probe: Callable[[], Awaitable[bool]], within: float, every: float = 0.05) -> None:
    """Poll ``probe`` until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await probe():
        assert time.monotonic() < deadline, f"not reached in {within:.0f} s"
        await asyncio.sleep(every)


@dataclass
class Outcome:
    """What one import left behind after the outage."""

    scenario: str
    stored: int
    duplicated: int
    dead_letters: int
    recovery_s: float
    status: dict[str, Any]
    said: str  # the status the account showed while the server was down, if any

    @property
    def lost(self) -> int:
        return MESSAGES - self.stored

    def table(self) -> str:
        end = f"{self.status.get('state')} {self.status.get('done')}/{self.status.get('total')}"
        rows = [
            ("scenario", "lost", "dup", "dead letters", "recovery s", "status at end", "meanwhile"),
            (
                self.scenario,
                str(self.lost),
                str(self.duplicated),
                str(self.dead_letters),
                f"{self.recovery_s:.1f}",
                end,
                self.said or "-",
            ),
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        return "\n".join(["", lines[0], "-" * len(lines[0]), lines[1], ""])


class Import:
    """One deployment importing one mailbox on the private servers."""

    def __init__(self, private: PrivateStack, stack: Any, unique: str, log_dir: Path) -> None:
        self.private = private
        self.stack = stack
        self.unique = unique
        self.mailbox = f"out-{unique}@{OWN_DOMAIN}"
        self.system = LocalSystem(
            kafka_bootstrap=private.kafka_bootstrap,
            mongo_url=private.mongo_url,
            prefix=f"o{unique}",
            api_port=free_port(),
            log_dir=log_dir,
            extra_env={
                "FETCHER_SCHEDULE_INTERVAL_S": "3600",
                "TIMELINE_ALLOW_PRIVATE_HOSTS": "true",
            },
        )
        self.topics = Topics(self.system.prefix)
        self.store: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            private.mongo_url, tz_aware=True, serverSelectionTimeoutMS=2000
        )
        self.timeline = self.store[f"{self.system.prefix}_timeline"]
        self.watch = AIOKafkaConsumer(bootstrap_servers=private.kafka_bootstrap)
        self.account = ""
        self.key = ""
        self.pids: dict[str, int] = {}

    async def prepare(self) -> None:
        """A full mailbox, and the services running with their partitions assigned."""
        await asyncio.to_thread(self._fill, 0, MESSAGES)
        self.system.start_all()
        await asyncio.to_thread(self.system.wait_for_api)
        self.pids = {name: p.pid for name, p in self.system.processes.items()}
        await self.watch.start()
        await when(self._settled, within=90, every=0.25)

    async def close(self) -> None:
        """Stop the services; delete the topics, so that the next restart of the private
        Kafka has only the next tests' logs to recover."""
        self.system.stop_all()
        await self.watch.stop()
        await self.store.close()
        await delete_topics(self.private.kafka_bootstrap, self.system.prefix)

    def _fill(self, first: int, count: int) -> None:
        """Sent messages, each its own thread, to PEOPLE people of one client, in one
        MULTIAPPEND (RFC 3502) of non-synchronising literals: Dovecot takes 3,000 in a
        second."""
        now = datetime.now(UTC)
        literals = []
        for i in range(first, first + count):
            raw = (
                f"From: {self.mailbox}\r\nTo: person{i % PEOPLE}@client-{self.unique}.test\r\n"
                f"Subject: Order {i}\r\nMessage-ID: <o{i}-{self.unique}@{OWN_DOMAIN}>\r\n"
                f"Date: {format_datetime(now - timedelta(minutes=i))}\r\n"
                "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHi.\r\n"
            ).encode()
            literals.append(b" {%d+}\r\n%s" % (len(raw), raw))
        imap = imaplib.IMAP4(self.stack.imap_host, self.stack.imap_port)
        try:
            imap.login(self.mailbox, self.stack.imap_test_password)
            assert "LITERAL+" in imap.capabilities, imap.capabilities
            imap.send(b"f1 APPEND Sent" + b"".join(literals) + b"\r\n")
            while not (line := imap.readline()).startswith(b"f1 "):
                pass
            assert line.startswith(b"f1 OK"), line
        finally:
            imap.logout()

    async def connect(self) -> None:
        """A workspace, then the mailbox's account through the API: the import starts."""
        from timeline_api.entrypoints.admin import bootstrap

        settings = timeline_settings(self.system)
        made = await bootstrap(settings, "Acme", [OWN_DOMAIN], admin_email=self.mailbox)
        imap = {"host": self.stack.imap_host, "port": self.stack.imap_port, "tls": "none"}
        login = {"username": self.mailbox, "password": self.stack.imap_test_password}
        body = {
            "email": self.mailbox,
            "imap": imap | login,
            "mail": {"visibility": "subject", "contact_creation": "sent_only"},
        }
        self.key = made["api_key"]
        async with self._api() as api:
            response = await api.post("/v1/accounts", json=body)
        assert response.status_code == 201, response.text
        self.account = response.json()["id"]

    def _api(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.AsyncClient(base_url=self.system.api_url, headers=headers, timeout=30)

    def groups(self) -> dict[str, list[str]]:
        """The consumer groups a message goes through on its way to the timeline, and the
        account's status, with their topics. The timeline's index heads and rosters, which
        the projection derives from stored messages and writes after them, catch up a
        while later (under a minute for 3,000 messages here); they are not awaited."""
        p, t = self.system.prefix, self.topics
        return {
            f"{p}.fetcher": [t.sync_requests],
            f"{p}.matcher": [t.mail_raw],
            f"{p}.enricher": [t.mail_matched],
            f"{p}.timeline-api.messages": [t.timeline_messages],
            f"{p}.timeline-api.dropped": [t.dropped],
            f"{p}.timeline-api.status": [t.sync_status],
        }

    async def _settled(self) -> bool:
        """Whether the consumer of every group of the import has its partitions (each
        service logs it, with the group's id: crm_runtime.health)."""
        assigned = set()
        for log in self.system.log_dir.glob("*.log"):
            for line in log.read_text(errors="replace").splitlines():
                if '"msg": "partitions assigned"' in line and line.startswith("{"):
                    entry = json.loads(line)
                    if entry.get("partitions"):
                        assigned.add(entry.get("group"))
        return set(self.groups()) <= assigned

    async def fetched(self) -> int:
        """Messages the fetcher has published so far (the import's progress)."""
        return await records(self.watch, self.topics.mail_raw)

    async def stored(self) -> int:
        """Messages in the timeline (-1 while FerretDB does not answer)."""
        try:
            return int(await self.timeline["messages"].count_documents({}))
        except Exception:
            return -1

    async def settle(self) -> float:
        """Wait until every message is stored and every group has committed all, or
        SETTLE_S; returns when that was (time.monotonic)."""
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline:
            self.system.check_alive()
            if await self.stored() >= MESSAGES and await self._lag() == 0:
                break
            await asyncio.sleep(1)
        return time.monotonic()

    async def _lag(self) -> int:
        bootstrap = self.private.kafka_bootstrap
        try:
            return sum([await consumer_lag(bootstrap, g, t) for g, t in self.groups().items()])
        except Exception:
            return -1

    async def outcome(self, scenario: str, recovery_s: float, said: str) -> Outcome:
        """What the import left behind; the services must be the ones started at first."""
        self.system.check_alive()
        now = {name: p.pid for name, p in self.system.processes.items()}
        assert now == self.pids, "a service was restarted"
        return Outcome(
            scenario=scenario,
            stored=await self.stored(),
            duplicated=await self._duplicated(),
            dead_letters=await records(self.watch, self.topics.dead_letter),
            recovery_s=recovery_s,
            status=await self._status(),
            said=said,
        )

    async def _duplicated(self) -> int:
        """Copies beyond one per message, thread, person and company."""
        db = self.timeline
        extra = max(0, await db["messages"].count_documents({}) - MESSAGES)
        extra += max(0, await db["threads"].count_documents({}) - MESSAGES)
        extra += max(0, await db["people"].count_documents({}) - PEOPLE)
        extra += max(0, await db["companies"].count_documents({}) - 1)
        async for thread in db["threads"].find({"message_count": {"$gt": 1}}):
            extra += int(thread["message_count"]) - 1
        return extra

    async def _status(self) -> dict[str, Any]:
        """The account's mail status, once it is up to date (or after 30 s)."""
        deadline = time.monotonic() + 30
        async with self._api() as api:
            while True:
                view = (await api.get(f"/v1/accounts/{self.account}")).json()
                [mail] = [s for s in view["status"] if s["kind"] == "mail"]
                if mail["state"] == "up_to_date" or time.monotonic() > deadline:
                    return dict(mail)
                await asyncio.sleep(0.5)

    async def statuses(self) -> list[dict[str, Any]]:
        """Every status the account's sync published, in order."""
        consumer = AIOKafkaConsumer(
            self.topics.sync_status,
            bootstrap_servers=self.private.kafka_bootstrap,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        found: list[dict[str, Any]] = []
        try:
            while batch := await consumer.getmany(timeout_ms=1000):
                found += [json.loads(r.value) for rs in batch.values() for r in rs]
        finally:
            await consumer.stop()
        return [s for s in found if s["account_id"] == self.account]


async def records(consumer: AIOKafkaConsumer, topic: str) -> int:
    """How many records a topic holds."""
    await consumer._client.force_metadata_update()
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    ends = await consumer.end_offsets(partitions) if partitions else {}
    return sum(ends.values())
