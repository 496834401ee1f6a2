"""The HTTP edge without servers: problem details and health, over a stand-in store."""

import httpx
from pymongo.errors import ServerSelectionTimeoutError

from timeline_api.app import create_app
from timeline_api.settings import TimelineSettings


class DownStore:
    """A read model whose database does not answer and that holds nothing."""

    async def ping(self) -> None:
        raise ServerSelectionTimeoutError("no servers")

    async def person(self, person_id: str) -> None:
        return None


def _client() -> httpx.AsyncClient:
    app = create_app(TimelineSettings())
    app.state.settings = TimelineSettings(health_timeout_s=0.5)
    app.state.store = DownStore()  # the lifespan is not run: nothing connects
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


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
