"""``GET /v1/messages/explain``: why is this email (not) on the timeline?

Answers by the message's RFC 5322 Message-ID within a workspace: synced (with its thread
and the people and companies it is linked to), dropped (with the reason and the rule that
decided), or never seen, in the workspace of the member asking. Every lookup is by
``_id`` (the item id is derived from the workspace and the normalised Message-ID), so the
answer is instant on any volume.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from crm_schemas.ids import company_id, message_item_id, normalize_message_id, person_id
from timeline_api.api.deps import Records, Threads, Viewer
from timeline_api.api.problems import invalid_input, problem_responses

router = APIRouter(prefix="/v1/messages", tags=["explain"])


class LinkedParticipant(BaseModel):
    """A participant of a synced message and the records it is linked to."""

    email: str
    roles: list[str]
    internal: bool
    person_id: str | None = Field(default=None, description="The person with this address.")
    company_id: str | None = Field(default=None, description="The company of its domain.")


class Explanation(BaseModel):
    """What happened to a message: synced, dropped, or never seen."""

    status: Literal["synced", "dropped", "never_seen"]
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
    return Explanation(status="never_seen", **base)


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
