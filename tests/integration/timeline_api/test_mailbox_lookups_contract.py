"""Searches of members' mailboxes, one contract against MongoDB on the real FerretDB and
against the in-memory fake: a search keeps each mailbox's answer, answers to no known
search or mailbox change nothing, and a search is started once."""

from datetime import UTC, datetime
from typing import Any

import pytest

from crm_schemas.lookups import MailboxPlace, MessageLookupAnswered
from crm_schemas.mail import FolderRole
from timeline_api.adapters.mailbox_lookups import InMemoryMailboxLookups, MongoMailboxLookups
from timeline_api.domain.lookups import MailboxLookup, MailboxSearched

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.fixture(params=["memory", "mongo"])
def lookups(request: pytest.FixtureRequest, db: Any) -> Any:
    return InMemoryMailboxLookups() if request.param == "memory" else MongoMailboxLookups(db)


def answer(account: str, lookup: str = "l1", **fields: Any) -> MessageLookupAnswered:
    return MessageLookupAnswered.model_validate(
        {"lookup_id": lookup, "workspace_id": "ws", "account_id": account, "message_id": "x@y"}
        | fields
    )


async def test_a_search_keeps_each_mailboxs_answer(lookups: Any) -> None:
    started = MailboxLookup(
        lookup_id="l1",
        workspace_id="ws",
        member_id="m1",
        message_id="x@y",
        started_at=T0,
        mailboxes=(
            MailboxSearched(account_id="acc.a", email="a@acme.test"),
            MailboxSearched(account_id="acc-b", email="b@acme.test"),
        ),
    )
    junk = MailboxPlace(folder="Junk", folder_role=FolderRole.JUNK, synced=False)
    assert await lookups.start(started)

    await lookups.record(
        [
            answer("acc.a", state="found", places=[junk]),
            answer("acc-z", state="not_found"),  # no such mailbox in this search
            answer("acc-b", lookup="l-unknown", state="not_found"),
        ]
    )

    kept = await lookups.lookup("l1")
    assert kept.started_at == T0
    assert [(m.email, m.state, m.places) for m in kept.mailboxes] == [
        ("a@acme.test", "found", (junk,)),
        ("b@acme.test", "searching", ()),
    ]
    assert await lookups.lookup("l-unknown") is None
    # started again (explain asked twice within the minute): the search is left as it is
    assert not await lookups.start(started)
    assert (await lookups.lookup("l1")).mailboxes[0].state == "found"
