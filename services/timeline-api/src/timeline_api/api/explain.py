"""``GET /v1/messages/explain``: why is this email (not) on the timeline?

Answers by the message's RFC 5322 Message-ID within a workspace: synced (with its thread
and the people and companies it is linked to), dropped (with the reason and the rule that
decided), or never seen, in the workspace of the member asking. Every lookup is by
``_id`` (the item id is derived from the workspace and the normalised Message-ID), so the
answer is instant on any volume.

A message never seen may sit in a folder the account does not sync (spam, trash, an
excluded folder): explain then asks the member's mailboxes through the fetcher
(``service.lookups``), waits a few seconds for their answers, and says where the message
is, in words. When the mailboxes take longer it answers 202 ``searching`` with the
lookup's ``Location`` (``GET /v1/messages/lookups/{id}``), to ask again.
"""

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from crm_schemas.ids import company_id, message_item_id, normalize_message_id, person_id
from crm_schemas.lookups import MailboxPlace
from timeline_api.api.deps import Records, Settings, Threads, Viewer
from timeline_api.api.problems import invalid_input, problem_responses
from timeline_api.domain.lookups import MailboxLookup, MailboxState, in_words, is_done
from timeline_api.service.lookups import MailboxSearch

router = APIRouter(prefix="/v1/messages", tags=["explain"])


class LinkedParticipant(BaseModel):
    """A participant of a synced message and the records it is linked to."""

    email: str
    roles: list[str]
    internal: bool
    person_id: str | None = Field(default=None, description="The person with this address.")
    company_id: str | None = Field(default=None, description="The company of its domain.")


class MailboxView(BaseModel):
    """What one of the member's mailboxes said: where it has the message, if anywhere."""

    account_id: str
    email: str
    state: MailboxState
    places: list[MailboxPlace] = Field(description="Folders (labels) that have it.")
    problem: str | None = None


class SearchView(BaseModel):
    """A search of the member's mailboxes for a message the timeline never saw."""

    lookup_id: str
    state: Literal["searching", "done"]
    answer: str = Field(description="Where the message is, and why it is not synced there.")
    mailboxes: list[MailboxView]

    @classmethod
    def of(cls, lookup: MailboxLookup) -> "SearchView":
        """From the lookup as it stands."""
        mailboxes = [MailboxView.model_validate(m.model_dump()) for m in lookup.mailboxes]
        state: Literal["searching", "done"] = "done" if is_done(lookup) else "searching"
        return cls(
            lookup_id=lookup.lookup_id, state=state, answer=in_words(lookup), mailboxes=mailboxes
        )


class Explanation(BaseModel):
    """What happened to a message: synced, dropped, or never seen (and then, where the
    member's mailboxes have it: ``searching`` until they answered)."""

    status: Literal["synced", "dropped", "never_seen", "searching"]
    message_id: str = Field(description="The Message-ID asked about, normalised.")
    item_id: str
    thread_id: str | None = None
    participants: list[LinkedParticipant] | None = None
    reason: str | None = Field(default=None, description="A DropReason code, e.g. 'internal'.")
    rule: str | None = Field(default=None, description="The rule that dropped it.")
    detail: str | None = None
    dropped_at: datetime | None = None
    accounts: list[str] | None = Field(
        default=None, description="Accounts the message was dropped from."
    )
    search: SearchView | None = Field(
        default=None, description="Never seen: where the member's mailboxes have it."
    )


MessageIdParam = Annotated[
    str, Query(min_length=1, max_length=998, description="RFC 5322 Message-ID, <> optional.")
]


SEARCHING: dict[int | str, dict[str, Any]] = {
    202: {"model": Explanation, "description": "Still searching the mailboxes: ask Location"}
}


def get_search(request: Request) -> MailboxSearch:
    """The mailbox searches built at start-up."""
    return cast(MailboxSearch, request.app.state.mailbox_search)


Search = Annotated[MailboxSearch, Depends(get_search)]


@router.get(
    "/explain",
    response_model=Explanation,
    response_model_exclude_none=True,
    responses=SEARCHING | problem_responses(401, 422),
)
async def explain_message(
    threads: Threads,
    records: Records,
    viewer: Viewer,
    message_id: MessageIdParam,
    search: Search,
    settings: Settings,
    response: Response,
) -> Explanation:
    """Why a message is, or is not, on the timelines of the workspace; for one never seen,
    where the member's own mailboxes have it."""
    workspace_id = viewer.workspace_id
    normalized = normalize_message_id(message_id)
    if not normalized or any(c.isspace() for c in normalized):
        raise invalid_input("query", "message_id", "not a Message-ID")
    item_id = message_item_id(workspace_id, normalized)
    message, dropped = await threads.explain_item(item_id)
    base: dict[str, Any] = {"message_id": normalized, "item_id": item_id}
    if message is not None and message.get("workspace_id") == workspace_id:
        participants = await _linked(records, workspace_id, message.get("participants") or [])
        return Explanation(
            status="synced",
            thread_id=message.get("thread_id"),
            participants=participants,
            **base,
        )
    if dropped is not None and dropped.get("workspace_id") == workspace_id:
        return Explanation(
            status="dropped",
            reason=dropped.get("reason"),
            rule=dropped.get("rule"),
            detail=dropped.get("detail"),
            dropped_at=dropped.get("dropped_at"),
            accounts=sorted((dropped.get("accounts") or {}).keys()),
            **base,
        )
    lookup = await search.start(viewer, normalized)
    if lookup is None:  # no mailbox of the member's to ask
        return Explanation(status="never_seen", **base)
    lookup = await search.wait(lookup, viewer, settings.lookup_wait_s)
    return _searched(lookup, response, base)


@router.get(
    "/lookups/{lookup_id}",
    response_model=Explanation,
    response_model_exclude_none=True,
    responses=problem_responses(401, 404),
)
async def follow_lookup(
    lookup_id: str, search: Search, viewer: Viewer, response: Response
) -> Explanation:
    """A search of the member's mailboxes, as it stands: ``searching``, or ``never_seen``
    with where the mailboxes have the message."""
    lookup = await search.follow(lookup_id, viewer)
    base = {
        "message_id": lookup.message_id,
        "item_id": message_item_id(viewer.workspace_id, lookup.message_id),
    }
    return _searched(lookup, response, base)


def _searched(lookup: MailboxLookup, response: Response, base: dict[str, Any]) -> Explanation:
    """The explanation of a message never seen, with the search of the mailboxes; 202
    and where to ask again while they are still searching."""
    view = SearchView.of(lookup)
    if view.state == "searching":
        response.status_code = 202
        response.headers["Location"] = f"/v1/messages/lookups/{lookup.lookup_id}"
        return Explanation(status="searching", search=view, **base)
    return Explanation(status="never_seen", search=view, **base)


async def _linked(
    records: Records, workspace_id: str, participants: list[dict[str, Any]]
) -> list[LinkedParticipant]:
    """Each participant with its person and company, as stored or as auto-created."""
    candidates = []
    for p in participants:
        email = str(p.get("email", ""))
        domain = p.get("company_domain") or email.rpartition("@")[2]
        person = p.get("person_id") or person_id(workspace_id, email)
        company = p.get("company_id") or (company_id(workspace_id, domain) if domain else None)
        candidates.append((p, email, person, company))
    stored = await records.existing_records(
        [c[2] for c in candidates], [c[3] for c in candidates if c[3]]
    )
    return [
        LinkedParticipant(
            email=email,
            roles=list(p.get("roles") or []),
            internal=bool(p.get("internal")),
            person_id=person if person in stored else None,
            company_id=company if company in stored else None,
        )
        for p, email, person, company in candidates
    ]
