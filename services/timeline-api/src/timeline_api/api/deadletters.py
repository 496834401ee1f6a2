"""``/v1/deadletters``: a workspace's admins list, read and re-drive its dead letters.

What no handler could process, with its error, from any service (the messages, meetings,
sync jobs and records of the caller's workspace; operators see every workspace's with
``crm-admin deadletters``). A retry sends each original payload back to the topic it
came from, where the same handler takes it again; re-driving an item that made it after
all changes nothing. See docs/dead-letters.md.
"""

from datetime import datetime
from typing import Annotated, cast

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from timeline_api.api.deps import Viewer
from timeline_api.api.problems import problem_responses
from timeline_api.api.timelines import CursorParam, Limit
from timeline_api.domain.access import Member
from timeline_api.domain.dead_letters import DeadLetterQuery, StoredDeadLetter
from timeline_api.domain.pagination import DEFAULT_LIMIT
from timeline_api.service.dead_letters import DeadLetterDesk

router = APIRouter(prefix="/v1/deadletters", tags=["dead letters"])
ERRORS = problem_responses(401, 403, 404, 422)


def get_desk(request: Request) -> DeadLetterDesk:
    """The dead letters' use cases built at start-up."""
    return cast(DeadLetterDesk, request.app.state.dead_letters)


Desk = Annotated[DeadLetterDesk, Depends(get_desk)]


def admin_of(viewer: Member) -> str:
    """The workspace whose dead letters the caller may see: an admin's own."""
    if not viewer.is_admin:
        raise HTTPException(403, "only an admin of the workspace may see its dead letters")
    return viewer.workspace_id


class DeadLetterView(BaseModel):
    """A message no handler could process: where it was, why it failed, and whether it
    was re-driven."""

    id: str = Field(description="<source topic>:<partition>:<offset>")
    source_topic: str
    partition: int
    offset: int
    key: str | None
    handler: str
    error_type: str
    error: str
    attempts: int
    failed_at: datetime
    retried_at: datetime | None = None
    retried_by: str | None = None

    @classmethod
    def of(cls, letter: StoredDeadLetter) -> "DeadLetterView":
        """From the kept dead letter."""
        return cls.model_validate(letter.model_dump() | {"id": letter.letter_id})


class DeadLetterDetail(DeadLetterView):
    """A dead letter with the original payload (base64 when it was not UTF-8)."""

    payload: str
    payload_encoding: str


class ErrorCountView(BaseModel):
    """How many dead letters of one error type came from one topic."""

    source_topic: str
    error_type: str
    count: int


class DeadLetterPage(BaseModel):
    """Dead letters newest first, and the counts by error of every one asked for."""

    items: list[DeadLetterView]
    counts: list[ErrorCountView]
    next_cursor: str | None


class RetryRequest(BaseModel):
    """Which dead letters to re-drive: these ids, or every one not re-driven yet from a
    topic, failed since a time, of an error type (all given conditions hold)."""

    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(default_factory=list, max_length=1000)
    topic: str | None = None
    since: datetime | None = None
    error_type: str | None = None


class Refusal(BaseModel):
    """A dead letter that could not be re-driven, and why."""

    id: str
    reason: str


class RetryAnswer(BaseModel):
    """What was re-driven; ``more`` when others wait for another call."""

    retried: list[str]
    refused: list[Refusal]
    more: bool


@router.get("", response_model=DeadLetterPage, responses=ERRORS)
async def list_dead_letters(
    desk: Desk,
    viewer: Viewer,
    cursor: CursorParam,
    topic: Annotated[str | None, Query(description="Only from this source topic.")] = None,
    since: Annotated[datetime | None, Query(description="Only failed at or after.")] = None,
    error_type: Annotated[str | None, Query(description="Only this error type.")] = None,
    pending: Annotated[bool, Query(description="Only those not re-driven yet.")] = False,
    limit: Limit = DEFAULT_LIMIT,
) -> DeadLetterPage:
    """The workspace's dead letters, newest first, with their counts by error."""
    query = DeadLetterQuery(admin_of(viewer), topic, since, error_type, pending)
    listing = await desk.listing(query, cursor, limit)
    return DeadLetterPage(
        items=[DeadLetterView.of(x) for x in listing.letters],
        counts=[ErrorCountView.model_validate(c, from_attributes=True) for c in listing.counts],
        next_cursor=listing.next_cursor,
    )


@router.post("/retry", response_model=RetryAnswer, responses=ERRORS)
async def retry_dead_letters(body: RetryRequest, desk: Desk, viewer: Viewer) -> RetryAnswer:
    """Send the original payloads back to their topics, to the same handlers."""
    query = DeadLetterQuery(admin_of(viewer), body.topic, body.since, body.error_type)
    done = await desk.retry(query, f"member:{viewer.member_id}", body.ids)
    refused = [Refusal(id=i, reason=why) for i, why in done.refused]
    return RetryAnswer(retried=done.retried, refused=refused, more=done.more)


@router.get("/{letter_id}", response_model=DeadLetterDetail, responses=ERRORS)
async def show_dead_letter(letter_id: str, desk: Desk, viewer: Viewer) -> DeadLetterDetail:
    """One dead letter with its original payload."""
    letter = await desk.show(letter_id, admin_of(viewer))
    return DeadLetterDetail.model_validate(letter.model_dump() | {"id": letter.letter_id})
