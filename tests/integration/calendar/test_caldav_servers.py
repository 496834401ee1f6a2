"""Incremental calendar sync on Radicale and on Xandikos, through real Kafka and FerretDB."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import TypeAdapter

from crm_runtime.secrets import SecretBox
from crm_schemas.calendar import RawCalendarItem, RawEvent, RawEventRemoved
from fetcher.adapters.calendar_state import MongoCalendarStateStore
from fetcher.domain.model import CalendarState
from fetcher.settings import FetcherSettings
from fetcher.sync_calendar import CalendarPorts, run_calendar_job
from tests.integration.fetcher.conftest import read_topic

from .conftest import CalendarOnServer

pytestmark = pytest.mark.integration
ITEMS: TypeAdapter[RawEvent | RawEventRemoved] = TypeAdapter(RawCalendarItem)


def vevent(uid: str, start: datetime, extra: str = "") -> str:
    stamp = start.strftime("%Y%m%dT%H%M%SZ")
    return (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//crm-tests//EN\nBEGIN:VEVENT\n"
        f"UID:{uid}\nDTSTAMP:20240101T000000Z\nDTSTART:{stamp}\nDURATION:PT1H\n"
        f"SUMMARY:Call {uid}\nATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@customer.io\n{extra}"
        "END:VEVENT\nEND:VCALENDAR\n"
    )


async def items(settings: FetcherSettings) -> list[RawEvent | RawEventRemoved]:
    records = await read_topic(settings.kafka_bootstrap, settings.topics.calendar_raw)
    return [ITEMS.validate_json(value) for _, value in records]


async def test_changes_and_deletions_are_synced_incrementally(
    settings: FetcherSettings, calendar_ports: CalendarPorts, server_calendar: CalendarOnServer
):
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    account = server_calendar.account(SecretBox(settings.secrets_key))
    with server_calendar.client() as client:
        calendar = server_calendar.calendar(client)
        calendar.save_event(vevent("moved", soon))
        gone = calendar.save_event(vevent("gone", soon))
        calendar.save_event(vevent("weekly", soon, "RRULE:FREQ=WEEKLY;COUNT=3\n"))

    first = await run_calendar_job(account, calendar_ports)
    assert (first.failed, first.published, first.calendars) == (None, 5, [server_calendar.name])

    again = await run_calendar_job(account, calendar_ports)
    assert (again.published, again.removed) == (0, 0)

    with server_calendar.client() as client:
        server_calendar.calendar(client).save_event(vevent("moved", soon + timedelta(hours=2)))
        gone.delete()
    changed = await run_calendar_job(account, calendar_ports)
    assert (changed.published, changed.removed) == (1, 1)

    published = await items(settings)
    (removal,) = [i for i in published if isinstance(i, RawEventRemoved)]
    assert (removal.ical_uid, removal.reason) == ("gone", "deleted")
    moved = [i for i in published if isinstance(i, RawEvent) and i.ical_uid == "moved"]
    assert moved[-1].starts_at == soon + timedelta(hours=2)
    assert len({i.item_id for i in published if i.ical_uid == "weekly"}) == 3


async def test_an_invalid_sync_token_resyncs_everything_without_duplicates(
    settings: FetcherSettings,
    calendar_ports: CalendarPorts,
    server_calendar: CalendarOnServer,
    db,
):
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    account = server_calendar.account(SecretBox(settings.secrets_key))
    with server_calendar.client() as client:
        server_calendar.calendar(client).save_event(vevent("one", soon))
    await run_calendar_job(account, calendar_ports)
    store = MongoCalendarStateStore(db)
    (doc,) = [d async for d in db["caldav_calendars"].find({"account_id": account.account_id})]
    state = await store.load(account.account_id, doc["calendar_url"])
    assert state is not None
    assert state.token
    await db["caldav_calendars"].update_one(
        {"_id": doc["_id"]}, {"$set": {"token": f"{state.token}-no-longer-valid"}}
    )

    resync = await run_calendar_job(account, calendar_ports)

    assert (resync.failed, resync.removed) == (None, 0)
    published = await items(settings)
    assert {i.item_id for i in published} == {published[0].item_id}


async def test_without_sync_tokens_etags_are_compared_on_the_real_server(
    settings: FetcherSettings,
    calendar_ports: CalendarPorts,
    server_calendar: CalendarOnServer,
    db,
):
    """The fallback for servers without sync-collection (caldav's etag listing), forced by
    starting from the kind of token that fallback stores."""
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    account = server_calendar.account(SecretBox(settings.secrets_key))
    with server_calendar.client() as client:
        calendar = server_calendar.calendar(client)
        calendar.save_event(vevent("kept", soon))
        calendar.save_event(vevent("moved", soon))
        gone = calendar.save_event(vevent("gone", soon))
        url = str(calendar.url)
    store = MongoCalendarStateStore(db)
    await store.save(account.account_id, url, CalendarState(token="fake-never-seen"))

    first = await run_calendar_job(account, calendar_ports)
    assert (first.failed, first.published, first.removed) == (None, 3, 0)
    state = await store.load(account.account_id, url)
    assert state is not None
    assert state.token is not None
    assert state.token.startswith("fake-")  # still on the fallback: nothing else was asked
    assert {etag for _, etag in state.objects} != {None}

    unchanged = await run_calendar_job(account, calendar_ports)
    assert (unchanged.published, unchanged.removed) == (0, 0)

    with server_calendar.client() as client:
        server_calendar.calendar(client).save_event(vevent("moved", soon + timedelta(hours=2)))
        gone.delete()
    changed = await run_calendar_job(account, calendar_ports)
    assert (changed.failed, changed.published, changed.removed) == (None, 1, 1)
    published = await items(settings)
    (removal,) = [i for i in published if isinstance(i, RawEventRemoved)]
    assert removal.ical_uid == "gone"
    moved = [i for i in published if isinstance(i, RawEvent) and i.ical_uid == "moved"]
    assert [m.starts_at for m in moved] == [soon, soon + timedelta(hours=2)]
    assert [i.ical_uid for i in published if i.ical_uid == "kept"] == ["kept"]
