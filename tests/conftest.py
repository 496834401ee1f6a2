"""Fixtures every test layer shares: where the local stack is, and per-test isolation.

Integration and end-to-end tests talk to the real servers started by ``make infra-up``
(all on 127.0.0.1). Each test gets its own topic prefix, consumer-group prefix and
database, so tests never see each other's messages or records.
"""

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from cryptography.fernet import Fernet

from crm_runtime import bus

SERVICE_PREFIXES = ("FETCHER_", "MATCHER_", "ENRICHER_", "TIMELINE_")


def pytest_configure(config: pytest.Config) -> None:
    """Give the services' settings a secrets key, as a deployment does: the local stack's
    own (so processes started by the tests agree with it), else one for this session; and
    let them reach the local stack's servers on 127.0.0.1."""
    key_file = os.path.join(
        os.environ.get("STACK_DIR", os.path.join(os.path.dirname(__file__), "..", ".stack")),
        "secrets.key",
    )
    key = ""
    if os.path.exists(key_file):
        with open(key_file) as f:
            key = f.read().strip()
    key = key or Fernet.generate_key().decode()
    for prefix in SERVICE_PREFIXES:
        os.environ.setdefault(f"{prefix}SECRETS_KEY", key)
    # The local stack's servers are on 127.0.0.1: the SSRF guard lets the tests reach them
    # (tests of the guard itself turn it back on in their own settings).
    for prefix in ("FETCHER_", "TIMELINE_"):
        os.environ.setdefault(f"{prefix}ALLOW_PRIVATE_HOSTS", "true")


@dataclass(frozen=True)
class Stack:
    """Addresses of the local stack's servers."""

    kafka_bootstrap: str
    mongo_url: str
    imap_host: str
    imap_port: int
    imap_test_password: str
    caldav_url: str
    caldav_users_file: str
    xandikos_url: str = "http://127.0.0.1:15233/"  # no auth: any user name and password


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@pytest.fixture(scope="session")
def stack() -> Stack:
    """The running local stack; fails clearly when it is not up."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    stack_dir = os.environ.get("STACK_DIR", os.path.join(root, ".stack"))
    found = Stack(
        kafka_bootstrap=f"127.0.0.1:{_port('STACK_KAFKA_PORT', 19092)}",
        mongo_url=f"mongodb://127.0.0.1:{_port('STACK_MONGO_PORT', 27017)}/",
        imap_host="127.0.0.1",
        imap_port=_port("STACK_IMAP_PORT", 10143),
        imap_test_password=os.environ.get("STACK_IMAP_TEST_PASSWORD", "test-password"),
        caldav_url=f"http://127.0.0.1:{_port('STACK_CALDAV_PORT', 15232)}/",
        caldav_users_file=os.path.join(stack_dir, "radicale", "users"),
        xandikos_url=f"http://127.0.0.1:{_port('STACK_XANDIKOS_PORT', 15233)}/",
    )
    for name, port in (
        ("Kafka", _port("STACK_KAFKA_PORT", 19092)),
        ("FerretDB", _port("STACK_MONGO_PORT", 27017)),
        ("Dovecot", found.imap_port),
        ("Radicale", _port("STACK_CALDAV_PORT", 15232)),
    ):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            pytest.fail(f"{name} is not answering on 127.0.0.1:{port}: run `make infra-up`")
    return found


@pytest.fixture
def unique() -> str:
    """A short token unique to this test, for names nothing else uses."""
    return uuid.uuid4().hex[:10]


def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete a test's topics: each holds open files in Kafka, and tests make thousands.

    Runs on a thread of its own, so it works whatever event loop the test used.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, bus.delete_topics(bootstrap, prefix)).result(timeout=60)


@pytest.fixture
def isolated(stack: Stack, unique: str) -> Iterator[dict[str, str]]:
    """Settings values that give a test its own topics, groups and database."""
    yield {
        "kafka_bootstrap": stack.kafka_bootstrap,
        "mongo_url": stack.mongo_url,
        "topic_prefix": f"t{unique}",
        "group_prefix": f"t{unique}",
        # each service adds its own suffix: services never share a database
        "mongo_db_prefix": f"t{unique}",
        "log_json": "false",
    }
    delete_topics(stack.kafka_bootstrap, f"t{unique}")
