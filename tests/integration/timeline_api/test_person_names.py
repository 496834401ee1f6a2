"""A person's name does not depend on arrival order (issue 18): whatever order mail and
meetings come in, the best name seen wins (a display name over a name made from the
address), and a name typed by hand is never replaced. Checked where users see it (the
API) and where the records are kept (the enricher)."""

import asyncio

import pytest

from tests.integration.timeline_api.conftest import eventually
from tests.integration.timeline_api.with_enricher import Deployment, mail, meeting

pytestmark = pytest.mark.integration

AMY = "amy.lee@client.test"


async def test_a_bare_attendee_first_takes_the_display_name_of_a_later_mail(
    deployment: Deployment,
) -> None:
    ws, topics = deployment.workspace_id, deployment.topics
    invite = meeting(ws, "first", [AMY])
    await deployment.publish(topics.calendar_matched, invite.event.item_id, invite)
    await eventually(lambda: deployment.names([AMY]), lambda names: names == ["Amy Lee"])
    stored = await deployment.person(AMY)
    assert stored is not None

    message = mail(ws, "later@acme.test", {AMY: "Amy B. Lee"})
    await deployment.publish(topics.mail_matched, message.message.item_id, message)

    await eventually(lambda: deployment.names([AMY]), lambda names: names == ["Amy B. Lee"])
    assert await deployment.owner_names([AMY]) == ["Amy B. Lee"]


async def test_a_display_name_first_is_kept_when_a_bare_attendee_comes_later(
    deployment: Deployment,
) -> None:
    ws, topics = deployment.workspace_id, deployment.topics
    message = mail(ws, "first@acme.test", {AMY: "Amy B. Lee"})
    await deployment.publish(topics.mail_matched, message.message.item_id, message)
    await eventually(lambda: deployment.names([AMY]), lambda names: names == ["Amy B. Lee"])

    invite = meeting(ws, "later", [AMY])
    await deployment.publish(topics.calendar_matched, invite.event.item_id, invite)
    await deployment.quiet()

    assert await deployment.names([AMY]) == ["Amy B. Lee"]
    assert await deployment.owner_names([AMY]) == ["Amy B. Lee"]


async def test_a_display_name_seen_before_the_person_existed_still_names_them(
    deployment: Deployment,
) -> None:
    ws, topics = deployment.workspace_id, deployment.topics
    # Received mail creates nobody under ``sent_only``, but its display name is seen.
    received = mail(ws, "asked@client.test", {AMY: "Amy B. Lee"}, sent=False)
    await deployment.publish(topics.mail_matched, received.message.item_id, received)
    await deployment.quiet()
    assert await deployment.names([AMY]) == [None]

    invite = meeting(ws, "then", [AMY])  # a bare attendee: the meeting creates her
    await deployment.publish(topics.calendar_matched, invite.event.item_id, invite)

    await eventually(lambda: deployment.names([AMY]), lambda names: names == ["Amy B. Lee"])
    assert await deployment.owner_names([AMY]) == ["Amy B. Lee"]


async def test_a_name_typed_by_hand_is_never_replaced_by_a_later_display_name(
    deployment: Deployment,
) -> None:
    ws, topics = deployment.workspace_id, deployment.topics
    invite = meeting(ws, "named", [AMY])
    await deployment.publish(topics.calendar_matched, invite.event.item_id, invite)
    person = await eventually(lambda: deployment.person(AMY), lambda p: p is not None)
    assert person is not None
    answer = await deployment.api.patch(f"/v1/people/{person['id']}", json={"name": "Dr Lee"})
    assert answer.status_code == 200, answer.text

    message = mail(ws, "after@acme.test", {AMY: "Amy B. Lee"})
    await deployment.publish(topics.mail_matched, message.message.item_id, message)
    await deployment.quiet()

    assert await deployment.names([AMY]) == ["Dr Lee"]
    assert await deployment.owner_names([AMY]) == ["Dr Lee"]


async def test_mail_and_meetings_at_the_same_moment_name_everyone_from_the_mail(
    deployment: Deployment,
) -> None:
    ws, topics = deployment.workspace_id, deployment.topics
    emails = [f"{first}.{last}@client{n % 4}.test" for n, (first, last) in enumerate(_names())]
    # Each person is a bare attendee of a meeting and a named recipient of a mail, the
    # two handled at once by the enricher's mail and calendar consumers.
    sends = []
    for n, email in enumerate(emails):
        invite = meeting(ws, f"m{n}", [email])
        message = mail(ws, f"m{n}@acme.test", {email: _display(email)})
        sends.append(deployment.publish(topics.calendar_matched, invite.event.item_id, invite))
        sends.append(deployment.publish(topics.mail_matched, message.message.item_id, message))
    await asyncio.gather(*sends)
    await deployment.quiet()

    expected = [_display(e) for e in emails]
    await eventually(lambda: deployment.names(emails), lambda names: names == expected)
    assert await deployment.owner_names(emails) == expected


def _names() -> list[tuple[str, str]]:
    firsts = ("ann", "bea", "cid", "dot", "eli", "flo", "gil", "hue")
    lasts = ("ash", "bay", "cole", "dale", "eddy")
    return [(f, s) for f in firsts for s in lasts]


def _display(email: str) -> str:
    first, last = email.split("@")[0].split(".")
    return f"{first.title()} {last.title()} (Client)"
