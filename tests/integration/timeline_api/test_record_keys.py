"""Creating a record under a key of the client's never tells whether another workspace
has a record with that id: the answer is the one any fresh key gets."""

import pytest

from enricher.settings import EnricherSettings
from tests.integration.timeline_api.conftest import Timeline

pytestmark = pytest.mark.integration


async def test_another_workspaces_ids_given_as_keys_answer_as_if_they_did_not_exist(
    timeline: Timeline, record_owner: EnricherSettings, unique: str
) -> None:
    ws = f"ws-{unique}"
    await timeline.login(ws)
    post = timeline.client.post
    company = await post("/v1/companies", json={"name": "Client", "domains": ["client.test"]})
    ann = await post("/v1/people", json={"name": "Ann", "emails": ["ann@client.test"]})
    deal = await post("/v1/opportunities", json={"name": "Deal"})
    theirs = {
        "/v1/companies": (company.json()["id"], {"name": "Mine"}),
        "/v1/people": (ann.json()["id"], {"name": "Me", "emails": ["me@mine.test"]}),
        "/v1/opportunities": (deal.json()["id"], {"name": "Mine"}),
    }

    await timeline.login(f"{ws}-other")
    answers = {
        path: await post(path, json=body | {"id": taken}) for path, (taken, body) in theirs.items()
    }
    fresh = await post("/v1/opportunities", json={"name": "Fresh", "id": f"never-used-{unique}"})
    again = await post("/v1/opportunities", json={"name": "Again", "id": f"never-used-{unique}"})

    for path, answer in answers.items():
        assert answer.status_code == 201, (path, answer.text)
        assert answer.json()["id"] != theirs[path][0]
        assert answer.json()["workspace_id"] == f"{ws}-other"
    assert fresh.status_code == 201
    assert again.status_code == 409  # a key of one's own workspace is one's own record
    await timeline.login(ws)
    assert (await timeline.get_json(f"/v1/people/{ann.json()['id']}"))["name"] == "Ann"
    assert (await timeline.get_json(f"/v1/companies/{company.json()['id']}"))["name"] == "Client"
