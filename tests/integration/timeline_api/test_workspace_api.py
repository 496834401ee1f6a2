"""Workspaces, members and keys: bootstrap from the command line, then the API."""

import pytest

from tests.integration.timeline_api.conftest import Timeline
from timeline_api.domain.access import Role, key_digest
from timeline_api.entrypoints.admin import bootstrap

pytestmark = pytest.mark.integration


async def test_bootstrap_makes_a_workspace_with_an_admin_whose_key_works_once_printed(
    timeline: Timeline, unique: str
) -> None:
    made = await bootstrap(
        timeline.settings, f"Acme {unique}", ["Acme.test", "acme.test"], "Ann@Acme.test", "Ann"
    )
    headers = {"Authorization": f"Bearer {made['api_key']}"}

    me = await timeline.client.get("/v1/me", headers=headers)

    assert me.status_code == 200, me.text
    assert me.json()["member"] == {
        "id": made["member_id"],
        "email": "ann@acme.test",
        "name": "Ann",
        "role": "admin",
    }
    assert me.json()["workspace"]["domains"] == ["acme.test"]
    stored = await timeline.directory.keys.find_one({"_id": key_digest(made["api_key"])})
    assert stored is not None
    assert made["api_key"] not in str(stored)  # only the digest is kept


async def test_an_admin_adds_members_and_changes_the_workspace_and_a_member_cannot(
    timeline: Timeline, unique: str
) -> None:
    ws = f"ws-{unique}"
    await timeline.login(ws, "admin@us.test", Role.ADMIN)

    added = await timeline.client.post("/v1/members", json={"email": "Bob@us.test"})
    twice = await timeline.client.post("/v1/members", json={"email": "bob@us.test"})
    changed = await timeline.client.patch(
        "/v1/workspace",
        json={"domains": ["US.test", "us-eu.test"], "role_addresses_add": ["Deals"]},
    )
    bad = await timeline.client.patch("/v1/workspace", json={"domains": []})
    bob = {"Authorization": f"Bearer {added.json()['api_key']}"}
    refused = await timeline.client.patch("/v1/workspace", json={"name": "Mine"}, headers=bob)
    cannot_add = await timeline.client.post(
        "/v1/members", json={"email": "eve@x.test"}, headers=bob
    )
    own_key = await timeline.client.post(
        f"/v1/members/{added.json()['member']['id']}/keys", json={"label": "laptop"}, headers=bob
    )
    members = await timeline.client.get("/v1/members", headers=bob)

    assert added.status_code == 201, added.text
    assert added.json()["member"]["role"] == "member"
    assert twice.status_code == 409
    assert changed.json()["domains"] == ["us.test", "us-eu.test"]
    assert changed.json()["role_addresses_add"] == ["deals"]
    assert bad.status_code == 422
    assert (refused.status_code, cannot_add.status_code) == (403, 403)
    assert own_key.status_code == 201
    assert own_key.json()["api_key"] != added.json()["api_key"]
    assert sorted(m["email"] for m in members.json()) == ["admin@us.test", "bob@us.test"]
    stored = await timeline.directory.workspace(ws)
    assert stored is not None
    assert stored.domains == ("us.test", "us-eu.test")
