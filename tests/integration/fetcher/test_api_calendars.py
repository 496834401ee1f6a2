"""Google Calendar and Graph calendar sync against the emulators, real Kafka and FerretDB."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document
from crm_runtime.secrets import SecretBox
from crm_schemas.calendar import RawEvent, RawEventRemoved
from crm_schemas.config import OAuthProvider
from crm_schemas.outcomes import ItemDropped
from crm_schemas.sync import SyncState, SyncStatusChanged
from fetcher.adapters.calendar_state import MongoCalendarStateStore
from fetcher.adapters.kafka import KafkaPublisher
from fetcher.adapters.passwords import SealedPasswords
from fetcher.adapters.provider_cursors import MongoProviderCursorStore
from fetcher.domain.problems import ProblemKind
from fetcher.providers.factory import ProviderFactory
from fetcher.settings import FetcherSettings
from fetcher.sync_oauth_calendar import OAuthCalendarPorts, run_oauth_calendar_job
from tests.emulators.gmail import GmailEmulator
from tests.emulators.graph import GraphEmulator
from tests.emulators.oauth import TokenAuthority
from tests.emulators.server import EmulatorServer

from .conftest import read_topic
from .providers import CLIENT_ID, CLIENT_SECRET, oauth_account

pytestmark = pytest.mark.integration
OWNER = "owner@acme.test"
SOON = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)


def google_event(n: int, **extra: Any) -> dict[str, Any]:
    start = SOON + timedelta(hours=n)
    return {
        "iCalUID": f"evt-{n}@google.com",
        "summary": f"Meeting {n}",
        "start": {"dateTime": start.isoformat(), "timeZone": "Europe/Berlin"},
        "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
        "organizer": {"email": OWNER},
        "attendees": [
            {"email": OWNER, "responseStatus": "accepted", "self": True},
            {
                "email": f"client{n}@customer.io",
                "displayName": f"Client {n}",
                "responseStatus": "needsAction",
            },
        ],
    } | extra


def graph_event(n: int, **extra: Any) -> dict[str, Any]:
    start = SOON + timedelta(hours=n)
    return {
        "iCalUId": f"graph-evt-{n}",
        "subject": f"Meeting {n}",
        "type": "singleInstance",
        "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"},
        "end": {
            "dateTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
            "timeZone": "UTC",
        },
        "organizer": {"emailAddress": {"address": OWNER, "name": "Owner"}},
        "attendees": [
            {
                "type": "required",
                "status": {"response": "accepted"},
                "emailAddress": {"address": f"client{n}@customer.io", "name": "C"},
            }
        ],
        "sensitivity": "normal",
    } | extra


@pytest.fixture
def authority() -> TokenAuthority:
    return TokenAuthority(CLIENT_ID, CLIENT_SECRET)


@pytest.fixture
def google(authority) -> Iterator[tuple[GmailEmulator, str]]:
    emulator = GmailEmulator(authority)
    with EmulatorServer(emulator) as server:
        yield emulator, server.base_url


@pytest.fixture
def graph(authority, tls) -> Iterator[GraphEmulator]:
    emulator = GraphEmulator(authority, retry_after_s=0.05)
    with EmulatorServer(emulator, certfile=tls[1], keyfile=tls[1]) as server:
        emulator.base_url = server.base_url
        yield emulator


def ports_for(settings: FetcherSettings, publisher: KafkaPublisher, db: AsyncDatabase[Document]):
    factory = ProviderFactory(settings, SealedPasswords(SecretBox(settings.secrets_key)))
    return OAuthCalendarPorts(
        settings=settings,
        open_provider=factory.open_calendar,
        cursors=MongoProviderCursorStore(db),
        states=MongoCalendarStateStore(db),
        publish=publisher,
    )


@pytest.fixture
def google_ports(settings, google, publisher, db) -> OAuthCalendarPorts:
    _, base = google
    configured = settings.model_copy(
        update={
            "google_client_id": CLIENT_ID,
            "google_client_secret": SecretStr(CLIENT_SECRET),
            "google_token_uri": f"{base}/token",
            "gcal_api_url": base,
        }
    )
    return ports_for(configured, publisher, db)


@pytest.fixture
def graph_ports(settings, graph, tls, publisher, db) -> OAuthCalendarPorts:
    configured = settings.model_copy(
        update={
            "microsoft_client_id": CLIENT_ID,
            "microsoft_client_secret": SecretStr(CLIENT_SECRET),
            "microsoft_authority": f"{graph.base_url}/common",
            "graph_api_url": f"{graph.base_url}/v1.0",
            "provider_ca_file": tls[0],
        }
    )
    return ports_for(configured, publisher, db)


async def calendar_raw(settings: FetcherSettings) -> list[RawEvent | RawEventRemoved]:
    records = await read_topic(settings.kafka_bootstrap, settings.topics.calendar_raw)
    out: list[RawEvent | RawEventRemoved] = []
    for _, value in records:
        out.append(
            RawEventRemoved.model_validate_json(value)
            if b'"event_removed"' in value
            else RawEvent.model_validate_json(value)
        )
    return out


def account(settings, authority, provider):
    box = SecretBox(settings.secrets_key)
    return oauth_account(box, provider, OWNER, authority.consent(OWNER))


async def test_google_first_sync_pages_expands_series_drops_private_and_follows_changes(
    google, authority, google_ports
):
    emulator, _ = google
    calendars = emulator.calendar
    for n in range(260):  # more than one page of 250
        calendars.add(OWNER, google_event(n))
    series_start = SOON + timedelta(days=1)
    for week in range(2):
        at = series_start + timedelta(weeks=week)
        calendars.add(
            OWNER,
            google_event(
                900,
                id=f"weekly_{week}",
                recurringEventId="weekly",
                start={"dateTime": at.isoformat()},
                end={"dateTime": (at + timedelta(minutes=30)).isoformat()},
                originalStartTime={"dateTime": at.isoformat()},
            ),
        )
    calendars.add(OWNER, google_event(901, visibility="private"))
    gone_soon = calendars.add(OWNER, google_event(902))
    acc = account(google_ports.settings, authority, OAuthProvider.GOOGLE)

    first = await run_oauth_calendar_job(acc, google_ports)

    assert first.failed is None
    assert (first.published, first.dropped) == (263, 1)
    events = [e for e in await calendar_raw(google_ports.settings) if isinstance(e, RawEvent)]
    weekly = sorted(e.recurrence_id or "" for e in events if e.ical_uid == "evt-900@google.com")
    assert weekly == [
        (series_start + timedelta(weeks=w)).strftime("%Y%m%dT%H%M%SZ") for w in range(2)
    ]
    assert len({e.item_id for e in events}) == 263
    sample = next(e for e in events if e.title == "Meeting 1")
    assert sample.attendees[1].response == "NEEDS-ACTION"
    assert sample.provider == "google"
    dropped = await read_topic(
        google_ports.settings.kafka_bootstrap, google_ports.settings.topics.dropped
    )
    assert [ItemDropped.model_validate_json(v).reason for _, v in dropped] == ["private_event"]
    calendar, states = f"google:{first.streams[0]}", google_ports.states
    assert await states.items(acc.account_id, calendar, [gone_soon]) == {
        gone_soon: [("evt-902@google.com", None)]
    }

    calendars.delete(OWNER, gone_soon)
    calendars.add(OWNER, google_event(903))
    second = await run_oauth_calendar_job(acc, google_ports)
    assert (second.published, second.removed) == (1, 1)
    removed = [
        e for e in await calendar_raw(google_ports.settings) if isinstance(e, RawEventRemoved)
    ]
    assert [(r.ical_uid, r.reason) for r in removed] == [("evt-902@google.com", "cancelled")]
    assert await states.items(acc.account_id, calendar, [gone_soon]) == {}  # forgotten


async def test_google_410_resyncs_the_calendar_with_the_same_item_ids(
    google, authority, google_ports
):
    emulator, _ = google
    for n in range(3):
        emulator.calendar.add(OWNER, google_event(n))
    acc = account(google_ports.settings, authority, OAuthProvider.GOOGLE)
    await run_oauth_calendar_job(acc, google_ports)
    emulator.calendar.forget_sync_tokens()
    emulator.calendar.add(OWNER, google_event(7))

    result = await run_oauth_calendar_job(acc, google_ports)

    assert result.resyncs == 1
    items = {e.item_id for e in await calendar_raw(google_ports.settings)}
    assert len(items) == 4


async def test_google_revoked_consent_fails_the_calendar_with_re_authorise(
    google, authority, google_ports
):
    acc = account(google_ports.settings, authority, OAuthProvider.GOOGLE)
    authority.revoke(OWNER)
    result = await run_oauth_calendar_job(acc, google_ports)
    assert result.failed is not None
    assert result.failed.kind is ProblemKind.CONSENT
    records = await read_topic(
        google_ports.settings.kafka_bootstrap, google_ports.settings.topics.sync_status
    )
    last = SyncStatusChanged.model_validate_json(records[-1][1])
    assert last.state is SyncState.FAILING
    assert last.remedy == "Re-authorise this account"


async def test_graph_calendar_view_delta_publishes_removes_and_resyncs(
    graph, authority, graph_ports
):
    for n in range(130):  # two pages of 100
        graph.add_event(OWNER, graph_event(n))
    graph.add_event(OWNER, graph_event(500, sensitivity="private"))
    far = graph_event(501)
    far["start"]["dateTime"] = "2099-01-01T10:00:00.0000000"
    far["end"]["dateTime"] = "2099-01-01T11:00:00.0000000"
    graph.add_event(OWNER, far)  # outside the sync window
    doomed = graph.add_event(OWNER, graph_event(502))
    acc = account(graph_ports.settings, authority, OAuthProvider.MICROSOFT)

    first = await run_oauth_calendar_job(acc, graph_ports)
    assert first.failed is None
    assert (first.published, first.dropped) == (131, 1)
    assert graph.mailbox(OWNER).calls["calendar"] >= 2

    graph.remove_event(OWNER, doomed)
    second = await run_oauth_calendar_job(acc, graph_ports)
    assert second.removed == 1
    removed = [
        e for e in await calendar_raw(graph_ports.settings) if isinstance(e, RawEventRemoved)
    ]
    assert [(r.ical_uid, r.reason) for r in removed] == [("graph-evt-502", "deleted")]

    graph.forget_delta_tokens(OWNER)
    third = await run_oauth_calendar_job(acc, graph_ports)
    assert third.resyncs == 1
    published = {e.item_id for e in await calendar_raw(graph_ports.settings)}
    assert len(published) == 131  # the same items again, nothing new
