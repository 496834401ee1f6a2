"""The HTTP edge without servers: problem details and health, over stand-in ports."""

import httpx

from timeline_api.adapters.memory import InMemoryRecords
from timeline_api.adapters.timelines.memory import InMemoryTimelines
from timeline_api.domain.access import Member, Role
from timeline_api.entrypoints.http import create_app
from timeline_api.ports.common import UnavailableError
from timeline_api.service.timelines import TimelineQueries
from timeline_api.settings import TimelineSettings

KEY = "crm_the-one-key"


class DownDatabase:
    """A read model whose database does not answer."""

    async def ping(self) -> None:
        raise UnavailableError("ServerSelectionTimeoutError")


class OneKeyDirectory:
    """A directory that knows one key, of one member."""

    async def member_for_key(self, key: str) -> Member | None:
        if key != KEY:
            return None
        return Member("m1", "ws1", "ann@acme.test", "Ann", Role.MEMBER)


def _client(key: str | None = KEY) -> httpx.AsyncClient:
    app = create_app(TimelineSettings())
    app.state.settings = TimelineSettings(health_timeout_s=0.5)
    app.state.health = DownDatabase()  # the lifespan is not run: nothing connects
    records = InMemoryRecords()  # holds nothing
    app.state.timelines = TimelineQueries(records, InMemoryTimelines(records))
    app.state.directory = OneKeyDirectory()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers)


async def test_a_request_without_a_valid_key_is_a_401_problem() -> None:
    for key in (None, "crm_someone-elses", "not-even-a-key"):
        async with _client(key) as client:
            response = await client.get("/v1/people/nobody/threads")

        assert response.status_code == 401, key
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == 'Bearer realm="crm"'


async def test_health_is_503_problem_when_the_database_does_not_answer() -> None:
    async with _client() as client:
        response = await client.get("/healthz")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_unknown_person_is_a_404_problem() -> None:
    async with _client() as client:
        response = await client.get("/v1/people/nobody/threads")

    assert response.status_code == 404
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "no person with id nobody",
        "instance": "/v1/people/nobody/threads",
    }


async def test_a_bad_limit_is_a_422_problem_naming_the_field() -> None:
    async with _client() as client:
        response = await client.get("/v1/people/nobody/threads", params={"limit": 500})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["query", "limit"]


async def test_a_tampered_cursor_is_a_422_problem() -> None:
    async with _client() as client:
        response = await client.get("/v1/people/nobody/threads", params={"cursor": "x!"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "cursor"]
