"""The timeline API running in-process on the real Kafka and FerretDB of the local stack."""

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pydantic import BaseModel
from pymongo import AsyncMongoClient

from crm_runtime.bus import publish
from crm_runtime.service import running
from crm_schemas.config import AccountConfigured, ContactCreation, MailSettings, WorkspaceConfigured
from enricher.app import build as build_enricher
from enricher.settings import EnricherSettings
from timeline_api.domain.access import Member, Role, member_for
from timeline_api.entrypoints.http import create_app
from timeline_api.ports.accounts import Directory
from timeline_api.settings import TimelineSettings

if TYPE_CHECKING:
    from tests.integration.timeline_api.with_enricher import Deployment

T = TypeVar("T")


@pytest.fixture(scope="session")
def stack() -> object:
    """Only Kafka and FerretDB: the timeline API needs no IMAP or CalDAV server.

    Overrides the shared fixture so these tests run on a stack with just those two up.
    """
    from tests.conftest import Stack

    kafka, mongo = (
        int(os.environ.get("STACK_KAFKA_PORT", 19092)),
        int(os.environ.get("STACK_MONGO_PORT", 27017)),
    )
    for name, port in (("Kafka", kafka), ("FerretDB", mongo)):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            pytest.fail(f"{name} is not answering on 127.0.0.1:{port}: run `make infra-up`")
    return Stack(
        kafka_bootstrap=f"127.0.0.1:{kafka}",
        mongo_url=f"mongodb://127.0.0.1:{mongo}/",
        imap_host="127.0.0.1",
        imap_port=0,
        imap_test_password="",
        caldav_url="",
        caldav_users_file="",
    )


@pytest.fixture
def settings(isolated: dict[str, str], request: pytest.FixtureRequest) -> TimelineSettings:
    """The API's settings on this test's own topics, groups and database; a test changes
    some with ``@pytest.mark.parametrize("settings", [{...}], indirect=True)``."""
    changes: dict[str, Any] = getattr(request, "param", {})
    return TimelineSettings(
        kafka_bootstrap=isolated["kafka_bootstrap"],
        mongo_url=isolated["mongo_url"],
        topic_prefix=isolated["topic_prefix"],
        group_prefix=isolated["group_prefix"],
        mongo_db=f"{isolated['mongo_db_prefix']}_timeline",
        log_json=False,
        handler_attempts=2,
        retry_max_wait_s=0.5,
        allow_private_hosts=True,
        connect_timeout_s=5,
        **changes,
    )


@dataclass
class Timeline:
    """The API under test, a producer for its input topics, and its database."""

    client: httpx.AsyncClient
    settings: TimelineSettings
    broker: KafkaBroker
    mongo: AsyncMongoClient[dict[str, Any]]
    directory: Directory
    app: FastAPI

    async def key_for(
        self, workspace_id: str, email: str = "viewer@acme.test", role: Role = Role.ADMIN
    ) -> tuple[Member, str]:
        """A member of the workspace (both made if need be) and a new API key of theirs."""
        if await self.directory.workspace(workspace_id) is None:
            name = f"Workspace {workspace_id}"
            await self.directory.save_workspace(
                WorkspaceConfigured(workspace_id=workspace_id, name=name, domains=("us.test",))
            )
        member = member_for(workspace_id, email, None, role)
        await self.directory.save_member(member)
        return member, await self.directory.issue_key(member, "test")

    async def login(
        self, workspace_id: str, email: str = "viewer@acme.test", role: Role = Role.ADMIN
    ) -> Member:
        """From now on the client acts as this member of the workspace."""
        member, key = await self.key_for(workspace_id, email, role)
        self.client.headers["Authorization"] = f"Bearer {key}"
        return member

    async def publish(self, topic: str, key: str, event: BaseModel) -> None:
        """Put one event on a topic, as the enricher would."""
        await publish(self.broker, topic, key, event)

    async def try_json(self, path: str, **params: str | int) -> dict[str, Any]:
        """GET a path for polling: its JSON when it answers 200, else an empty object."""
        response = await self.client.get(path, params=params)
        if response.status_code != 200:
            return {}
        body: dict[str, Any] = response.json()
        return body

    async def get_json(self, path: str, **params: str | int) -> dict[str, Any]:
        """GET a path that must answer 200, as JSON."""
        response = await self.client.get(path, params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def timeline(settings: TimelineSettings) -> AsyncIterator[Timeline]:
    """The app inside its lifespan (topics, indexes, consumers), with a client and producer."""
    app = create_app(settings)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_url.get_secret_value(), tz_aware=True
    )
    broker = KafkaBroker(settings.kafka_bootstrap)
    async with app.router.lifespan_context(app):
        await broker.connect()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://timeline") as client:
            try:
                yield Timeline(client, settings, broker, mongo, app.state.directory, app)
            finally:
                await broker.stop()
    await mongo.drop_database(settings.mongo_db)
    await mongo.close()


@pytest.fixture
async def record_owner(settings: TimelineSettings) -> AsyncIterator[EnricherSettings]:
    """The enricher, the one writer of people and companies, on this test's topics and a
    database of its own: the records API asks it for every change (docs/adr/0029)."""
    enricher = EnricherSettings(
        kafka_bootstrap=settings.kafka_bootstrap,
        mongo_url=settings.mongo_url,
        topic_prefix=settings.topic_prefix,
        group_prefix=settings.group_prefix,
        mongo_db=f"{settings.mongo_db}_enricher",
        log_json=False,
        handler_attempts=2,
        retry_max_wait_s=0.5,
    )
    async with running(build_enricher(enricher)):
        yield enricher
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_url.get_secret_value()
    )
    await mongo.drop_database(enricher.mongo_db)
    await mongo.close()


@pytest.fixture
async def deployment(
    timeline: Timeline,
    record_owner: EnricherSettings,
    unique: str,
) -> "Deployment":
    """The enricher and the timeline API, one workspace with a mailbox and a calendar
    whose owner acts through the API as an admin."""
    from tests.integration.timeline_api.with_enricher import ACCOUNT, OWNER, Deployment

    ws = f"ws-{unique}"
    directory = timeline.directory
    await directory.save_workspace(
        WorkspaceConfigured(workspace_id=ws, name="Acme", domains=("acme.test",))
    )
    await directory.save_account(
        AccountConfigured(
            account_id=ACCOUNT,
            workspace_id=ws,
            owner_member_id="m-owner",
            email=OWNER,
            mail=MailSettings(contact_creation=ContactCreation.SENT_ONLY),
        )
    )
    await timeline.login(ws, OWNER, Role.ADMIN)
    return Deployment(ws, timeline, record_owner)


async def eventually(
    probe: Callable[[], Awaitable[T]], ready: Callable[[T], bool], within: float = 45.0
) -> T:
    """Poll ``probe`` until ``ready`` says yes, or fail at the deadline with the last value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if ready(value):
            return value
        if loop.time() > deadline:
            pytest.fail(f"not ready after {within}s; last value: {value!r}")
        await asyncio.sleep(0.2)


@pytest.fixture
async def db(settings: TimelineSettings) -> AsyncIterator[Any]:
    """The timeline's database on the real FerretDB, dropped after the test."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_url.get_secret_value(), tz_aware=True
    )
    yield mongo[settings.mongo_db]
    await mongo.drop_database(settings.mongo_db)
    await mongo.close()


class RecordedPublisher:
    """The bulk publisher's ``publish_all``, keeping each call's (key, event) pairs."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[str, Any]]] = []

    async def publish_all(self, outgoing: Any) -> None:
        self.batches.append([(key, event) for _, key, event in outgoing])

    def take(self) -> list[Any]:
        """Every event published since the last take, in order."""
        taken = [event for batch in self.batches for _, event in batch]
        self.batches.clear()
        return taken
