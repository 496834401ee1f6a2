"""``GET /v1/messages/explain``: why is this email (not) on the timeline?

Answers by the message's RFC 5322 Message-ID within the caller's workspace: synced (with
its thread and the people and companies it is linked to), dropped (with the reason and
the rule that decided), or never seen (``service.explain``).
"""

from typing import Annotated

from fastapi import APIRouter, Query

from timeline_api.api.deps import Records, Threads, Viewer
from timeline_api.api.problems import invalid_input, problem_responses
from timeline_api.service.explain import (
    Explanation,
    LinkedParticipant,
    NotAMessageIdError,
    explain,
)

__all__ = ["Explanation", "LinkedParticipant", "router"]

router = APIRouter(prefix="/v1/messages", tags=["explain"])

MessageIdParam = Annotated[
    str, Query(min_length=1, max_length=998, description="RFC 5322 Message-ID, <> optional.")
]


@router.get(
    "/explain",
    response_model=Explanation,
    response_model_exclude_none=True,
    responses=problem_responses(401, 422),
)
async def explain_message(
    threads: Threads, records: Records, viewer: Viewer, message_id: MessageIdParam
) -> Explanation:
    """Why a message is, or is not, on the timelines of the workspace."""
    try:
        return await explain(threads, records, viewer.workspace_id, message_id)
    except NotAMessageIdError as error:
        raise invalid_input("query", "message_id", str(error)) from error
