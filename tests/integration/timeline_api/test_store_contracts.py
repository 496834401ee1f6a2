"""One contract per small store of the timeline API, run against its MongoDB adapter on the
real FerretDB and against its in-memory fake: records kept only if newer, sync statuses,
and the heads read model's documents. (Who owns an address or a domain is the enricher's:
``tests/unit/enricher/test_record_commands.py``.)"""

from datetime import timedelta
from typing import Any

import pytest

from crm_schemas.base import utcnow
from crm_schemas.records import CompanyUpserted, OpportunityUpserted, PersonUpserted
from crm_schemas.sync import SyncKind, SyncState, SyncStatusChanged
from timeline_api.adapters.directory import MongoDirectory
from timeline_api.adapters.memory import InMemoryRecords, InMemorySyncStatuses
from timeline_api.adapters.records import MongoRecords
from timeline_api.adapters.timelines.heads.index_rules import Head
from timeline_api.adapters.timelines.heads.memory import (
    InMemoryHeads,
    InMemoryMemberships,
    InMemoryRosters,
)
from timeline_api.adapters.timelines.heads.mongo import MongoHeads, MongoMemberships, MongoRosters
from timeline_api.adapters.timelines.heads.roster_rules import Membership

pytestmark = pytest.mark.integration

WS = "ws-stores"
NOW = utcnow()


async def _no_publish(key: str, event: Any) -> None:
    return None


@pytest.fixture(params=["memory", "mongo"])
async def records(request: pytest.FixtureRequest, db: Any) -> Any:
    return InMemoryRecords() if request.param == "memory" else MongoRecords(db)


@pytest.fixture(params=["memory", "mongo"])
async def statuses(request: pytest.FixtureRequest, db: Any) -> Any:
    return InMemorySyncStatuses() if request.param == "memory" else MongoDirectory(db, _no_publish)


@pytest.fixture(params=["memory", "mongo"])
async def heads_stores(request: pytest.FixtureRequest, db: Any) -> Any:
    if request.param == "memory":
        return InMemoryHeads(), InMemoryRosters(), InMemoryMemberships()
    return MongoHeads(db), MongoRosters(db), MongoMemberships(db)


def _person(name: str, *emails: str, **changes: Any) -> PersonUpserted:
    fields = {"person_id": f"p-{name}", "workspace_id": WS, "name": name, "emails": emails}
    return PersonUpserted.model_validate(fields | changes)


# --- records ------------------------------------------------------------------------------


async def test_a_version_is_kept_only_if_newer(records: Any) -> None:
    ann = _person("ann", "ann@client.test", updated_at=NOW)
    older = ann.model_copy(update={"name": "Old", "updated_at": NOW - timedelta(seconds=1)})

    assert await records.upsert_person(ann)
    assert not await records.upsert_person(ann)  # redelivered: as new as what is kept
    assert not await records.upsert_person(older)
    kept = await records.person("p-ann")
    assert (kept.name, kept.updated_at) == ("ann", NOW)


async def test_addresses_and_domains_are_kept_normalised_and_found_any_case(records: Any) -> None:
    await records.upsert_person(_person("ann", " Ann@Client.test", "ann@client.test"))
    await records.upsert_company(
        CompanyUpserted(company_id="c-1", workspace_id=WS, name="Client", domains=("Client.TEST",))
    )

    [found] = await records.people_by_email("ANN@client.test", WS)
    assert found.emails == ("ann@client.test",)
    assert [c.domains for c in await records.companies_by_domain(" client.test", WS)] == [
        ("client.test",)
    ]
    assert await records.people_by_email("ann@client.test", "another-workspace") == []


async def test_existing_records_and_opportunities_are_found_by_id(records: Any) -> None:
    await records.upsert_person(_person("ann", "ann@client.test"))
    await records.upsert_opportunity(
        OpportunityUpserted(opportunity_id="o-1", workspace_id=WS, name="Deal", person_ids=("p",))
    )

    assert await records.existing_records(["p-ann", "p-nobody"], ["c-nobody"]) == {"p-ann"}
    deal = await records.opportunity("o-1")
    assert (deal.name, deal.person_ids) == ("Deal", ("p",))
    assert await records.opportunity("o-2") is None
    assert await records.company("c-nobody") is None


# --- sync statuses ------------------------------------------------------------------------


def _report(kind: SyncKind, state: SyncState, seconds: int) -> SyncStatusChanged:
    at = NOW + timedelta(seconds=seconds)
    return SyncStatusChanged(account_id="acc", workspace_id=WS, kind=kind, state=state, at=at)


async def test_each_kind_keeps_its_newest_report_with_when_import_began(statuses: Any) -> None:
    for report in (
        _report(SyncKind.MAIL, SyncState.IMPORTING, 0),
        _report(SyncKind.MAIL, SyncState.IMPORTING, 5),
        _report(SyncKind.MAIL, SyncState.UP_TO_DATE, 9),
        _report(SyncKind.MAIL, SyncState.IMPORTING, 7),  # overtaken
        _report(SyncKind.CALENDAR, SyncState.FAILING, 1),
    ):
        await statuses.record_status(report)

    kept = await statuses.statuses("acc")
    mail = kept[SyncKind.MAIL]
    assert (mail["state"], mail["started_at"], mail["last_sync_at"]) == (
        "up_to_date",
        NOW,
        NOW + timedelta(seconds=9),
    )
    assert kept[SyncKind.CALENDAR]["state"] == "failing"
    assert await statuses.statuses("another") == {}


# --- the heads read model's documents -----------------------------------------------------


async def test_heads_rosters_and_memberships_read_back_as_saved(heads_stores: Any) -> None:
    heads, rosters, memberships = heads_stores
    head = Head({"t1": NOW, "t2": NOW - timedelta(minutes=1)}, (NOW - timedelta(hours=1), "t0"))
    head = Head(head.entries, head.boundary, {"t1": '{"row": 1}'})
    roster = {"p-ann": (NOW, ("ann@client.test",)), "p-bob": (NOW, ())}
    member = Membership("c-1", ("ann@client.test",), NOW)

    await heads.save({"k1": head})
    await rosters.save({"c-1": roster})
    await memberships.save({"p-ann": member})
    await heads.save({})

    assert await heads.heads(["k1", "k2"]) == {"k1": head}
    assert await rosters.rosters(["c-1", "c-2"]) == {"c-1": roster}
    assert await memberships.memberships(["p-ann", "p-bob"]) == {"p-ann": member}


async def test_a_saved_head_replaces_the_one_before(heads_stores: Any) -> None:
    heads, _, _ = heads_stores
    await heads.save({"k1": Head({"t1": NOW})})
    await heads.save({"k1": Head({"t2": NOW})})

    assert await heads.heads(["k1"]) == {"k1": Head({"t2": NOW})}
