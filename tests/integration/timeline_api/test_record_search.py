"""Searching records by name, address or domain: one contract for the MongoDB adapter on
the real FerretDB and the in-memory fake, records stored before searches existed, and
the API's ``?q=`` pages."""

from typing import Any

import pytest

from crm_schemas.base import utcnow
from crm_schemas.records import CompanyUpserted, OpportunityUpserted, PersonUpserted
from enricher.settings import EnricherSettings
from tests.integration.timeline_api.conftest import Timeline
from timeline_api.adapters.memory import InMemoryRecords
from timeline_api.adapters.records import MongoRecords
from timeline_api.domain.search import query_words

pytestmark = pytest.mark.integration

WS = "ws-search"


@pytest.fixture(params=["memory", "mongo"])
async def records(request: pytest.FixtureRequest, db: Any) -> Any:
    return InMemoryRecords() if request.param == "memory" else MongoRecords(db)


def person(pid: str, name: str, *emails: str, ws: str = WS, merged: str | None = None) -> Any:
    return PersonUpserted(
        person_id=pid,
        workspace_id=ws,
        name=name,
        emails=emails,
        merged_into=merged,
        updated_at=utcnow(),
    )


async def names(records: Any, query: str, limit: int = 10, after: Any = None) -> list[str]:
    found = await records.search_people(WS, query_words(query), after, limit)
    return [p.name for p in found.items]


async def test_people_are_found_by_the_start_of_any_word_address_or_domain(records: Any) -> None:
    for p in (
        person("p1", "Jane Doe", "jane@client.test"),
        person("p2", "Émile Janvier", "emile@other.test"),
        person("p3", "John Roe", "jr@client.test", "john@home.test"),
        person("p4", "Jane Elsewhere", "jane@else.test", ws="another"),
        person("p5", "Jane Merged", "jm@client.test", merged="p1"),
    ):
        await records.upsert_person(p)

    assert await names(records, "jan") == ["Émile Janvier", "Jane Doe"]
    assert await names(records, "emile") == ["Émile Janvier"]
    assert await names(records, "DOE ja") == ["Jane Doe"]
    assert await names(records, "client.test") == ["Jane Doe", "John Roe"]
    assert await names(records, "john@home") == ["John Roe"]
    assert await names(records, "nobody") == []


async def test_search_pages_follow_each_other_by_name_without_repeats(records: Any) -> None:
    for i, name in enumerate(["Ann Zed", "Ann Able", "Ann Moss", "Ann Able", "Ann Kay"]):
        await records.upsert_person(person(f"p{i}", name, f"a{i}@x.test"))

    seen, after = [], None
    while True:
        found = await records.search_people(WS, ("ann",), after, 2)
        seen += [(p.name, p.person_id) for p in found.items]
        if found.next is None:
            break
        after = found.next
    assert seen == sorted(seen)
    assert [n for n, _ in seen] == ["Ann Able", "Ann Able", "Ann Kay", "Ann Moss", "Ann Zed"]


async def test_companies_and_opportunities_are_found_by_name_or_domain(records: Any) -> None:
    at = utcnow()
    await records.upsert_company(
        CompanyUpserted(
            company_id="c1",
            workspace_id=WS,
            name="Client Corp",
            domains=("Client.TEST",),
            updated_at=at,
        )
    )
    await records.upsert_opportunity(
        OpportunityUpserted(
            opportunity_id="o1", workspace_id=WS, name="Q1 rollout", company_id="c1", updated_at=at
        )
    )

    by_domain = await records.search_companies(WS, ("client.t",), None, 10)
    by_name = await records.search_opportunities(WS, ("roll",), None, 10)
    assert [c.company_id for c in by_domain.items] == ["c1"]
    assert [o.opportunity_id for o in by_name.items] == ["o1"]
    assert (await records.search_opportunities("another", ("roll",), None, 10)).items == []


async def test_records_stored_before_searches_existed_get_their_terms_once(db: Any) -> None:
    await db["people"].insert_one(
        {
            "_id": "old",
            "workspace_id": WS,
            "name": "Old Timer",
            "emails": ["old@x.test"],
            "updated_at": utcnow(),
        }
    )
    records = MongoRecords(db)

    assert await records.index_search_terms() == 1
    assert await records.index_search_terms() == 0
    assert await names(records, "tim") == ["Old Timer"]


async def test_the_api_searches_people_a_page_at_a_time(
    timeline: Timeline, record_owner: EnricherSettings
) -> None:
    await timeline.login(WS)
    for name, email in (("Jane Doe", "jane@client.test"), ("Janet Roe", "janet@client.test")):
        response = await timeline.client.post("/v1/people", json={"name": name, "emails": [email]})
        assert response.status_code == 201, response.text

    first = await timeline.get_json("/v1/people", q="jan", limit=1)
    second = await timeline.get_json("/v1/people", q="jan", limit=1, cursor=first["next_cursor"])
    companies = await timeline.client.get("/v1/companies", params={"q": "client"})
    both = await timeline.client.get("/v1/people", params={"q": "jan", "email": "jane@client.test"})
    forged = await timeline.client.get("/v1/people", params={"q": "jan", "cursor": "nope"})
    blank = await timeline.client.get("/v1/opportunities", params={"q": "  "})

    assert [p["name"] for p in first["items"]] == ["Jane Doe"]
    assert [p["name"] for p in second["items"]] == ["Janet Roe"]
    assert second["next_cursor"] is None
    assert companies.status_code == 200
    assert [r.status_code for r in (both, forged, blank)] == [422, 422, 422]
