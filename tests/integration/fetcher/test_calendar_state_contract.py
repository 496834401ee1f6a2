"""One contract for calendar sync state, run against the in-memory fake and real FerretDB."""

from datetime import UTC, datetime

import pytest

from fetcher.adapters.calendar_state import MongoCalendarStateStore
from fetcher.adapters.memory import InMemoryCalendarStates
from fetcher.domain.model import CalendarState
from fetcher.ports import CalendarStateStore

pytestmark = pytest.mark.integration
URL = "https://dav.test/cal/work/"


@pytest.fixture(params=["memory", "mongo"])
def store(request: pytest.FixtureRequest) -> CalendarStateStore:
    if request.param == "memory":
        return InMemoryCalendarStates()
    return MongoCalendarStateStore(request.getfixturevalue("db"))


async def test_a_saved_state_is_loaded_back_with_its_series_and_window(store: CalendarStateStore):
    until = datetime(2027, 1, 1, tzinfo=UTC)
    state = CalendarState("tok", (("/a.ics", '"1"'), ("/b.ics", None)), ("/a.ics",), until)
    await store.save("acc", URL, state)
    assert await store.load("acc", URL) == state
    assert await store.calendar_urls("acc") == [URL]
    assert await store.calendar_urls("other") == []


async def test_a_forgotten_calendar_has_no_state_and_is_no_longer_listed(
    store: CalendarStateStore,
):
    await store.save("acc", URL, CalendarState("tok"))
    await store.save("acc", URL + "2/", CalendarState("tok"))
    await store.forget_calendar("acc", URL)
    assert await store.load("acc", URL) is None
    assert await store.calendar_urls("acc") == [URL + "2/"]


async def test_items_are_saved_first_time_then_replaced_and_forgotten(store: CalendarStateStore):
    await store.save_items(
        "acc", URL, {"/a.ics": [("a", None)], "/s.ics": [("s", "1")]}, {"/a.ics", "/s.ics"}
    )
    await store.save_items("acc", URL, {"/s.ics": [("s", "1"), ("s", "2")]})
    found = await store.items("acc", URL, ["/a.ics", "/s.ics", "/none.ics"])
    assert found == {"/a.ics": [("a", None)], "/s.ics": [("s", "1"), ("s", "2")]}
    await store.forget("acc", URL, ["/a.ics"])
    assert await store.items("acc", URL, ["/a.ics"]) == {}


async def test_saving_first_time_items_again_after_a_crash_replaces_them(
    store: CalendarStateStore,
):
    await store.save_items("acc", URL, {"/a.ics": [("a", None)]}, {"/a.ics"})
    redone = {"/a.ics": [("a", "x")], "/b.ics": [("b", None)]}
    await store.save_items("acc", URL, redone, {"/a.ics", "/b.ics"})
    assert await store.items("acc", URL, ["/a.ics", "/b.ics"]) == redone
