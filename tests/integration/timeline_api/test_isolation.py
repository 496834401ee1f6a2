"""No request ever sees another workspace's data: every route, with the other one's ids.

The routes are read from the app itself, so a route added later is tried too: a route
this test does not know how to call fails the test until it is taught.
"""

import re
from typing import Any

import pytest

from crm_schemas.config import AccountConfigured, CalDavConnection, ImapConnection
from crm_schemas.ids import message_item_id
from tests.integration.timeline_api.builders import at, lost_in_an_outage, mail, meeting
from tests.integration.timeline_api.conftest import Timeline, eventually

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("record_owner")]

# What to send to each route that takes a body, so that it passes validation and the only
# thing between the caller and a change is whose the ids are.
BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/v1/people/{person_id}"): {"name": "Taken over"},
    ("POST", "/v1/people/{person_id}/merge"): {"from": "{other_person_id}"},
    ("PATCH", "/v1/companies/{company_id}"): {"name": "Taken over"},
    ("PATCH", "/v1/opportunities/{opportunity_id}"): {"name": "Taken over"},
    ("PATCH", "/v1/accounts/{account_id}"): {"mail": {"visibility": "full"}},
    ("POST", "/v1/members/{member_id}/keys"): {"label": "stolen"},
    ("POST", "/v1/workspaces/{workspace_id}/reprocess"): {"kinds": "both"},
}
# Routes without ids of their own: what the other workspace's member may send, and must
# never see the first workspace's data in the answer of.
OPEN_CALLS: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/v1/people"): {"params": {"email": "ann@client.test"}},
    ("GET", "/v1/companies"): {"params": {"domain": "client.test"}},
    ("GET", "/v1/accounts"): {},
    ("GET", "/v1/members"): {},
    ("GET", "/v1/me"): {},
    ("GET", "/v1/workspace"): {},
    ("GET", "/v1/messages/explain"): {"params": {"message_id": "iso-1@x"}},
    ("GET", "/v1/opportunities"): {"params": {"q": "deal"}},
    ("GET", "/v1/deadletters"): {},
    ("POST", "/v1/deadletters/retry"): {"json": {}},
}
# Routes that create: they must refuse the other workspace's ids as references.
CREATES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/people"): {"name": "X", "emails": ["x@else.test"], "company_id": "{company_id}"},
    ("POST", "/v1/opportunities"): {"name": "Deal", "company_id": "{company_id}"},
}
UNSCOPED = {  # no workspace of the caller's: health, and the callback bound by its state
    ("GET", "/healthz"),
    ("GET", "/v1/accounts/oauth/{provider}/callback"),
    # the providers' notifications, verified by their own tokens (test_push_endpoints.py)
    ("POST", "/v1/push/google/pubsub"),
    ("POST", "/v1/push/google/calendar"),
    ("POST", "/v1/push/microsoft"),
    ("POST", "/v1/push/microsoft/lifecycle"),
}
NOT_BY_ID = {  # create, test or change only the caller's own workspace: checked elsewhere
    ("POST", "/v1/companies"),
    ("POST", "/v1/accounts"),
    ("POST", "/v1/accounts/test"),
    ("POST", "/v1/members"),
    ("PATCH", "/v1/workspace"),
    ("POST", "/v1/accounts/oauth/{provider}/start"),
}


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], value)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


async def _first_workspace(timeline: Timeline, ws: str) -> dict[str, str]:
    """A workspace with one of everything: person, company, opportunity, thread, meeting,
    account and member; returns their ids by the path parameter names that take them."""
    member = await timeline.login(ws, "owner@us.test")
    post = timeline.client.post
    company = await post("/v1/companies", json={"name": "Client", "domains": ["client.test"]})
    ann = await post("/v1/people", json={"name": "Ann", "emails": ["ann@client.test"]})
    bob = await post("/v1/people", json={"name": "Bob", "emails": ["bob@client.test"]})
    deal = await post(
        "/v1/opportunities", json={"name": "Deal", "company_id": company.json()["id"]}
    )
    message = mail(ws, "iso-1@x", to=("ann@client.test",), subject="Their secret")
    event = meeting(ws, "iso-meet", attendees=("ann@client.test",))
    topics = timeline.settings.topics
    await timeline.publish(topics.timeline_messages, message.thread_id, message)
    await timeline.publish(topics.timeline_events, event.event.item_id, event)
    account = AccountConfigured(
        account_id=f"acc-{ws}",
        workspace_id=ws,
        owner_member_id=member.member_id,
        email="owner@us.test",
        caldav=CalDavConnection(url="http://x.test/", username="u", password_encrypted="x"),
        imap=ImapConnection(host="imap.x.test", port=993, username="u", password_encrypted="x"),
    )
    await timeline.directory.save_account(account)
    job = await post(f"/v1/workspaces/{ws}/reprocess", json={"kinds": "mail"})
    # the owner asked their mailboxes about a message the timeline never saw
    lookup = await timeline.app.state.mailbox_search.start(member, "iso-never@x")
    lost = mail(ws, "iso-lost@x", subject="Their lost secret")
    dead = lost_in_an_outage(lost, topics.timeline_messages, 0, 7)
    await timeline.publish(topics.dead_letter, lost.thread_id, dead)
    await eventually(
        lambda: timeline.try_json("/v1/deadletters"), lambda page: bool(page.get("items"))
    )
    person_id = ann.json()["id"]
    await eventually(
        lambda: timeline.try_json(f"/v1/people/{person_id}/threads"),
        lambda page: bool(page.get("items")),
    )
    return {
        "person_id": person_id,
        "other_person_id": bob.json()["id"],
        "company_id": company.json()["id"],
        "opportunity_id": deal.json()["id"],
        "thread_id": message.thread_id,
        "account_id": account.account_id,
        "member_id": member.member_id,
        "message_item_id": message_item_id(ws, "iso-1@x"),
        "workspace_id": ws,
        "job_id": job.json()["id"],
        "letter_id": f"{topics.timeline_messages}:0:7",
        "lookup_id": lookup.lookup_id,
    }


async def test_every_route_answers_another_workspaces_ids_as_if_they_did_not_exist(
    timeline: Timeline, unique: str
) -> None:
    ids = await _first_workspace(timeline, f"ws-a-{unique}")
    theirs = dict(timeline.client.headers)
    await timeline.login(f"ws-b-{unique}", "intruder@else.test")  # an admin of workspace B
    intruder = dict(timeline.client.headers)
    paths: dict[str, dict[str, Any]] = timeline.app.openapi()["paths"]
    tried: set[tuple[str, str]] = set()

    for path_template, operations in paths.items():
        for method in (m.upper() for m in operations):
            key = (method, path_template)
            if key in UNSCOPED or key in NOT_BY_ID or not path_template.startswith("/v1"):
                continue
            call = OPEN_CALLS.get(key)
            if "{" in path_template:
                path = _fill(path_template, ids)
                body = _fill(BODIES.get(key), ids)
                response = await timeline.client.request(method, path, json=body)
                assert response.status_code == 404, (key, response.status_code, response.text)
                assert response.headers["content-type"] == "application/problem+json"
            elif key in CREATES:
                response = await timeline.client.request(
                    method, path_template, json=_fill(CREATES[key], ids)
                )
                assert response.status_code == 422, (key, response.text)
            elif call is not None:
                response = await timeline.client.request(method, path_template, **call)
                assert response.status_code == 200, (key, response.text)
                for secret in (*ids.values(), "Their secret", "owner@us.test"):
                    assert secret not in response.text, (key, secret)
            else:
                pytest.fail(f"{method} {path_template}: teach this test how to call it")
            tried.add(key)

    assert len(tried) >= 25, sorted(tried)
    timeline.client.headers.clear()
    timeline.client.headers.update(theirs)  # and the first workspace still sees its own
    mine = await timeline.get_json(f"/v1/threads/{ids['thread_id']}")
    assert mine["subject"] == "Their secret"
    assert (await timeline.get_json(f"/v1/people/{ids['person_id']}"))["name"] == "Ann"
    assert at(0).isoformat()[:10] in mine["last_activity"]
    timeline.client.headers.update(intruder)
