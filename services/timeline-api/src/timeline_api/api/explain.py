"""``GET /v1/messages/explain``: why is this email (not) on the timeline?

Answers by the message's RFC 5322 Message-ID within the caller's workspace: synced (with
its thread and the people and companies it is linked to), dropped (with the reason and
the rule that decided), or never seen; for one never seen, where the member's own
mailboxes have it (``service.explain``). When the mailboxes take longer than
``TIMELINE_LOOKUP_WAIT_S`` it answers 202 ``searching`` with the lookup's ``Location``
(``GET /v1/messages/lookups/{id}``), to ask again.
"""

from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Query, Request, Response

from timeline_api.api.deps import Records, Settings, Threads, Viewer
from timeline_api.api.problems import invalid_input, problem_responses
from timeline_api.service.explain import (
    Explanation,
    LinkedParticipant,
    NotAMessageIdError,
    explain_or_search,
    follow_search,
)
from timeline_api.service.lookups import MailboxSearch

__all__ = ["Explanation", "LinkedParticipant", "router"]

router = APIRouter(prefix="/v1/messages", tags=["explain"])

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
    try:
        found = await explain_or_search(
            threads, records, search, viewer, message_id, settings.lookup_wait_s
        )
    except NotAMessageIdError as error:
        raise invalid_input("query", "message_id", str(error)) from error
    return _answered(found, response)


@router.get(
    "/lookups/{lookup_id}",
    response_model=Explanation,
    response_model_exclude_none=True,
    responses=SEARCHING | problem_responses(401, 404),
)
async def follow_lookup(
    lookup_id: str, search: Search, viewer: Viewer, response: Response
) -> Explanation:
    """A search of the member's mailboxes, as it stands: ``searching``, or ``never_seen``
    with where the mailboxes have the message."""
    return _answered(await follow_search(search, viewer, lookup_id), response)


def _answered(found: Explanation, response: Response) -> Explanation:
    """202 and where to ask again while the mailboxes are still searching."""
    if found.status == "searching" and found.search is not None:
        response.status_code = 202
        response.headers["Location"] = f"/v1/messages/lookups/{found.search.lookup_id}"
    return found
