"""One writer per record: a change made through the records API is never undone by the
enricher creating or renaming the same person at the same moment (issue 15).

The race these tests run was possible while both services wrote people: the enricher
learnt of the API's changes only from the records topic, so while that topic had a
backlog (after an import that creates many people, say) it created or renamed a person
from its own stale copy, stamped that version later than the API's, and every consumer
took it over the change a user had just made.
"""

import asyncio
from typing import Any

import pytest

from crm_schemas.records import CompanyUpserted
from tests.integration.timeline_api.conftest import eventually
from tests.integration.timeline_api.with_enricher import Deployment, mail, meeting

pytestmark = pytest.mark.integration

FIRST_NAMES = ("amy", "ben", "cal", "dee", "eve", "fay", "gus", "hal")
EMAILS = [f"{n}@client.test" for n in FIRST_NAMES]
BACKLOG = 1500


async def records_backlog(deployment: Deployment) -> None:
    """Thousands of records ahead of whatever the API publishes next: what a first
    import that creates people and companies leaves on the records topic."""
    topic, ws = deployment.topics.records, deployment.workspace_id
    sends = []
    for n in range(BACKLOG):
        company = CompanyUpserted(
            company_id=f"backlog-{n}", workspace_id=ws, name=f"B{n}", domains=(f"b{n}.test",)
        )
        sends.append(deployment.publish(topic, company.company_id, company))
    for start in range(0, len(sends), 500):
        await asyncio.gather(*sends[start : start + 500])


def by_hand(email: str) -> str:
    return f"{email.split('@')[0].title()} (typed by hand)"


def display_name(email: str) -> str:
    return f"{email.split('@')[0].title()} Lee"


async def test_a_name_typed_by_hand_survives_the_enricher_renaming_the_same_person(
    deployment: Deployment,
) -> None:
    ws, topics = deployment.workspace_id, deployment.topics
    # A meeting's bare attendees become people named from their addresses.
    invite = meeting(ws, "kickoff", EMAILS)
    await deployment.publish(topics.calendar_matched, invite.event.item_id, invite)
    named = [e.split("@")[0].title() for e in EMAILS]
    await eventually(lambda: deployment.names(EMAILS), lambda names: names == named)
    await records_backlog(deployment)

    # A user names them by hand; a mail with their display names comes in right after.
    for email in EMAILS:
        person = await deployment.person(email)
        assert person is not None
        answer = await deployment.api.patch(
            f"/v1/people/{person['id']}", json={"name": by_hand(email)}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["name"] == by_hand(email)
    message = mail(ws, "hello@acme.test", {e: display_name(e) for e in EMAILS})
    await deployment.publish(topics.mail_matched, message.message.item_id, message)
    await deployment.quiet()

    expected = [by_hand(e) for e in EMAILS]
    assert await deployment.names(EMAILS) == expected
    assert await deployment.owner_names(EMAILS) == expected


async def test_a_person_created_by_hand_is_not_replaced_by_the_enricher_creating_them_too(
    deployment: Deployment,
) -> None:
    ws, topics = deployment.workspace_id, deployment.topics
    await records_backlog(deployment)

    # A user creates the people by hand; a mail the owner sent them comes in right after,
    # which would create them too.
    answers: dict[str, Any] = {}
    for email in EMAILS:
        answer = await deployment.api.post(
            "/v1/people", json={"name": by_hand(email), "emails": [email]}
        )
        assert answer.status_code in (201, 409), answer.text
        answers[email] = answer
    message = mail(ws, "intro@acme.test", {e: display_name(e) for e in EMAILS})
    await deployment.publish(topics.mail_matched, message.message.item_id, message)
    await deployment.quiet()

    # Whatever the order the two writes met in, the API's answer is what stays: a person
    # created (201) keeps the name typed; a refusal (409) leaves the enricher's person.
    expected = [by_hand(e) if answers[e].status_code == 201 else display_name(e) for e in EMAILS]
    assert await deployment.names(EMAILS) == expected
    assert await deployment.owner_names(EMAILS) == expected
    assert [a.status_code for a in answers.values()] == [201] * len(EMAILS)
