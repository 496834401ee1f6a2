"""Helpers for the fetcher's integration tests: a mailbox user, topics, a topic reader."""

import asyncio
import imaplib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker
from opentelemetry.sdk.trace import TracerProvider
from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.bus import BulkPublisher, ensure_topics
from crm_runtime.mongo import Document, connect
from crm_runtime.secrets import SecretBox
from crm_runtime.service import TOPIC_PARTITIONS
from crm_schemas.config import AccountConfigured, CalDavConnection, ImapConnection, TlsMode
from fetcher.adapters.caldav_client import CalDavReader
from fetcher.adapters.calendar_state import MongoCalendarStateStore
from fetcher.adapters.cursors import MongoCursorStore
from fetcher.adapters.imap import open_imap
from fetcher.adapters.kafka import KafkaPublisher
from fetcher.adapters.passwords import SealedPasswords
from fetcher.settings import FetcherSettings
from fetcher.sync_calendar import CalendarPorts
from fetcher.sync_mail import MailPorts
from tests.emulators.tls import write_certificate


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A test CA and a certificate for 127.0.0.1: (CA bundle, cert+key file)."""
    return write_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def settings(isolated: dict[str, str]) -> FetcherSettings:
    """Fetcher settings on this test's own topics, groups and database."""
    values = {k: v for k, v in isolated.items() if k != "mongo_db_prefix"}
    return FetcherSettings(
        **values,  # type: ignore[arg-type]
        mongo_db=f"{isolated['mongo_db_prefix']}_fetcher",
        batch_size=2,
        handler_attempts=2,
        retry_max_wait_s=0.2,
    )


@pytest.fixture
async def topics(settings: FetcherSettings) -> None:
    """This test's topics, created up front as the services do at start."""
    await ensure_topics(settings.kafka_bootstrap, settings.topics.all(), TOPIC_PARTITIONS)


@pytest.fixture
async def broker(settings: FetcherSettings, topics: None) -> AsyncIterator[KafkaBroker]:
    """A connected, publish-only broker with the runtime's durability settings."""
    kafka = KafkaBroker(settings.kafka_bootstrap, acks="all", enable_idempotence=True)
    await kafka.connect()
    yield kafka
    await kafka.stop()


@pytest.fixture
async def publisher(settings: FetcherSettings, topics: None) -> AsyncIterator[KafkaPublisher]:
    """The fetcher's publisher over the runtime's bulk producer, closed afterwards."""
    bulk = BulkPublisher(settings, "fetcher-test", TracerProvider())
    yield KafkaPublisher(bulk)
    await bulk.close()


@pytest.fixture
async def db(settings: FetcherSettings) -> AsyncIterator[AsyncDatabase[Document]]:
    """The fetcher's database for this test, dropped afterwards."""
    client = connect(settings)
    yield client[settings.mongo_db]
    await client.drop_database(settings.mongo_db)
    await client.close()


@pytest.fixture
def mail_ports(
    settings: FetcherSettings, publisher: KafkaPublisher, db: AsyncDatabase[Document]
) -> MailPorts:
    """The mail job wired to real Dovecot, Kafka and FerretDB."""
    return MailPorts(
        settings=settings,
        open_mailbox=partial(open_imap, timeout_s=10, egress=settings.egress),
        cursors=MongoCursorStore(db),
        publish=publisher,
        password=SealedPasswords(SecretBox(settings.secrets_key)),
    )


@pytest.fixture
def calendar_ports(
    settings: FetcherSettings, publisher: KafkaPublisher, db: AsyncDatabase[Document]
) -> CalendarPorts:
    """The calendar job wired to real Radicale, Kafka and FerretDB."""
    return CalendarPorts(
        settings=settings,
        read_calendars=CalDavReader(10, egress=settings.egress),
        publish=publisher,
        password=SealedPasswords(SecretBox(settings.secrets_key)),
        states=MongoCalendarStateStore(db),
    )


@dataclass
class ImapUser:
    """A fresh Dovecot user (any name logs in with the stack's test password)."""

    host: str
    port: int
    username: str
    password: str

    def session(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        client.login(self.username, self.password)
        return client

    def append(self, folder: str, raw: bytes) -> None:
        """APPEND one unseen message to a folder, as a delivery would."""
        client = self.session()
        try:
            client.create(folder)  # a no-op error if it exists
            typ, data = client.append(folder, "", None, raw.replace(b"\n", b"\r\n"))
            assert typ == "OK", data
        finally:
            client.logout()

    def append_exactly(self, folder: str, raw: bytes, received: datetime) -> None:
        """APPEND bytes as they are (CRLF line ends already), received at ``received``."""
        client = self.session()
        try:
            client.create(folder)  # a no-op error if it exists
            typ, data = client.append(folder, "", received, raw)
            assert typ == "OK", data
        finally:
            client.logout()

    def flags(self, folder: str) -> list[bytes]:
        """The FLAGS of every message of a folder."""
        client = self.session()
        try:
            client.select(folder, readonly=True)
            _, data = client.fetch("1:*", "(FLAGS)")
            return [d for d in data if isinstance(d, bytes)]
        finally:
            client.logout()

    def account(self, box: SecretBox, password: str | None = None) -> AccountConfigured:
        """The account as the timeline API would publish it."""
        return AccountConfigured(
            account_id=f"acc-{self.username}",
            workspace_id="ws-int",
            owner_member_id="member-1",
            email=self.username,
            imap=ImapConnection(
                host=self.host,
                port=self.port,
                tls=TlsMode.NONE,
                username=self.username,
                password_encrypted=box.seal(password or self.password),
            ),
        )


@pytest.fixture
def imap_user(stack, unique: str) -> ImapUser:
    """A mailbox nobody else uses."""
    return ImapUser(
        stack.imap_host, stack.imap_port, f"u{unique}@acme.test", stack.imap_test_password
    )


def message(n: int, tag: str, to: str = "owner@acme.test") -> bytes:
    """A small external message with a Message-ID of its own."""
    return (
        f"From: Client {n} <client{n}@customer.io>\nTo: {to}\nSubject: {tag} {n}\n"
        f"Message-ID: <{tag}-{n}-{time.time_ns()}@customer.io>\n"
        f"Date: Tue, 05 Mar 2024 10:1{n % 10}:00 +0100\n\nHello {n}\n"
    ).encode()


@dataclass
class CalDavUser:
    """A fresh Radicale user."""

    url: str
    username: str
    password: str

    def account(self, box: SecretBox) -> AccountConfigured:
        """The account as the timeline API would publish it."""
        return AccountConfigured(
            account_id=f"acc-{self.username}",
            workspace_id="ws-int",
            owner_member_id="member-1",
            email=f"{self.username}@acme.test",
            caldav=CalDavConnection(
                url=self.url, username=self.username, password_encrypted=box.seal(self.password)
            ),
        )


@pytest.fixture
def caldav_user(stack, unique: str) -> CalDavUser:
    """A Radicale user, added to the stack's htpasswd file (re-read at every login)."""
    user = CalDavUser(stack.caldav_url, f"cal{unique}", f"pw-{unique}")
    with open(stack.caldav_users_file, "a", encoding="utf-8") as users:
        users.write(f"{user.username}:{user.password}\n")
    return user


async def read_topic(bootstrap: str, topic: str, deadline_s: float = 20) -> list[tuple[str, bytes]]:
    """Every record on a topic now, as (key, value); reads up to the end offsets, no sleeps.

    Publishing returns once Kafka has the record, so the end offsets read here already
    count everything the code under test published.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(TOPIC_PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        records: list[tuple[str, bytes]] = []
        async with asyncio.timeout(deadline_s):
            while [p for p in partitions if await consumer.position(p) < end[p]]:
                batches = await consumer.getmany(*partitions, timeout_ms=500)
                for batch in batches.values():
                    records.extend((r.key.decode(), r.value) for r in batch)
        return records
    finally:
        await consumer.stop()


async def wait_for(
    bootstrap: str, topic: str, predicate, deadline_s: float = 60
) -> list[tuple[str, bytes]]:
    """Read a topic again and again until its records satisfy ``predicate``, or fail."""
    loop = asyncio.get_running_loop()
    stop = loop.time() + deadline_s
    while True:
        records = await read_topic(bootstrap, topic)
        if predicate(records):
            return records
        if loop.time() > stop:
            raise AssertionError(f"{topic}: condition not met within {deadline_s}s: {records!r}")
        await asyncio.sleep(0.2)  # between polls of a deadline, not a fixed wait for a result


async def committed(bootstrap: str, group: str, topic: str) -> int:
    """How many records of a topic a consumer group has committed, over all partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


async def wait_committed(bootstrap: str, group: str, topic: str, count: int) -> None:
    """Wait, with a deadline, until a group has committed ``count`` records of a topic."""
    async with asyncio.timeout(60):
        while True:
            if await committed(bootstrap, group, topic) >= count:
                return
            await asyncio.sleep(0.2)
