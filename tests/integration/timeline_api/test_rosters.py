"""Company rosters on the real FerretDB: a person's versions move them between rosters
once each, and people stored before the rosters existed are put on them by the backfill."""

from datetime import timedelta
from typing import Any

import pytest

from crm_schemas.base import utcnow
from crm_schemas.records import PersonUpserted
from tests.integration.timeline_api.conftest import RecordedPublisher
from timeline_api.adapters.records import MongoRecords
from timeline_api.adapters.timelines.heads import backfill
from timeline_api.adapters.timelines.heads.backfill import roster_stored_people
from timeline_api.adapters.timelines.heads.events import RosterEntry
from timeline_api.adapters.timelines.heads.handlers import HeadsFeed, RosterWriter
from timeline_api.adapters.timelines.heads.mongo import MongoMemberships, MongoRosters

WS = "ws-rosters"


def _entries(published: RecordedPublisher) -> list[RosterEntry]:
    """Every entry published since the last look, after checking each is keyed by company."""
    assert all(key == e.company_id for batch in published.batches for key, e in batch)
    entries: list[RosterEntry] = published.take()
    return entries


def _feed(db: Any, published: RecordedPublisher) -> HeadsFeed:
    """The feed the projection tells each version of a person, publishing into ``published``."""
    return HeadsFeed(published, MongoMemberships(db), "index", "rosters")


def _person(name: str, company: str | None, *emails: str, **changes: Any) -> PersonUpserted:
    return PersonUpserted(
        person_id=f"p-{name}",
        workspace_id=WS,
        name=name,
        emails=emails,
        company_id=company,
        **changes,
    )


async def test_a_person_moves_between_rosters_once_whatever_is_redelivered(db: Any) -> None:
    table, published = MongoRosters(db), RecordedPublisher()
    writer = RosterWriter(table)
    assert await table.prepare()  # nobody stored yet: complete from the start
    people = _feed(db, published)
    joined = _person("ann", "acme", "Ann@Acme.test", "ann@mail.test")
    moved = joined.model_copy(
        update={"company_id": "globex", "updated_at": joined.updated_at + timedelta(seconds=1)}
    )

    await people.people_changed([joined])
    await writer.record_all(_entries(published))
    assert await table.emails("acme") == ["ann@acme.test", "ann@mail.test"]

    await people.people_changed([moved])
    entries = _entries(published)
    assert [(e.company_id, e.emails) for e in entries] == [
        ("acme", ()),
        ("globex", ("ann@acme.test", "ann@mail.test")),
    ]
    await writer.record_all(entries + entries)  # a redelivered poll
    for version in (joined, moved):  # a replay of the records topic
        await people.people_changed([version])
    assert _entries(published) == []
    assert await table.emails("acme") == []
    assert await table.emails("globex") == ["ann@acme.test", "ann@mail.test"]
    assert await table.emails("initech") == []


async def test_a_merged_person_leaves_the_roster_to_the_survivor(db: Any) -> None:
    table, published = MongoRosters(db), RecordedPublisher()
    await table.prepare()
    people = _feed(db, published)
    later = utcnow() + timedelta(seconds=1)
    await people.people_changed(
        [
            _person("bob", "acme", "bob@acme.test"),
            _person("robert", "acme", "robert@acme.test"),
            _person("bob", "acme", "bob@acme.test", merged_into="p-robert", updated_at=later),
            _person("robert", "acme", "robert@acme.test", "bob@acme.test", updated_at=later),
        ]
    )
    await RosterWriter(table).record_all(_entries(published))
    assert await table.emails("acme") == ["robert@acme.test", "bob@acme.test"]


async def test_people_stored_before_the_rosters_are_scanned_for_until_the_backfill(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backfill, "NOTED_AT_ONCE", 2)
    store, table, published = MongoRecords(db), MongoRosters(db), RecordedPublisher()
    for person in (
        _person("cy", "acme", "cy@acme.test"),
        _person("di", "acme", "di@elsewhere.test"),
        _person("ed", None, "ed@gmail.test"),
    ):
        await store.upsert_person(person)
    assert not await table.prepare()
    assert await table.emails("acme") is None  # the caller scans the people instead

    count = await roster_stored_people(db, _feed(db, published))

    assert count == 3
    assert [len(batch) for batch in published.batches] == [2, 0]  # Ed is on no roster
    await RosterWriter(table).record_all(_entries(published))
    assert await table.emails("acme") == ["cy@acme.test", "di@elsewhere.test"]
    assert await table.prepare()
