"""``/v1/workspaces/{id}/reprocess``: replay the workspace's history under its settings now.

Admins of the workspace ask for a replay of its mail, its calendars or both, since a time
or from the beginning, and follow the job: reading the raw topics (records read of the
range, and how many were the workspace's), then the matcher processing them. A range the
raw topics no longer hold is refused (409) with what they hold (docs/replay.md).
"""

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from timeline_api.api.deps import Reprocessing, Viewer
from timeline_api.api.problems import ProblemError, problem_responses
from timeline_api.domain.access import Member
from timeline_api.domain.replay import Progress, ReplayJob, ReplayKind, ReplayScope, kinds_of
from timeline_api.service.replay import ReplayRefusedError, Replays

router = APIRouter(prefix="/v1/workspaces", tags=["replay"])


class ReprocessRequest(BaseModel):
    """What to reprocess."""

    model_config = ConfigDict(extra="forbid")

    kinds: Literal["mail", "calendar", "both"] = "both"
    since: AwareDatetime | None = Field(
        default=None,
        description="Reprocess what was fetched at or after this time; none: everything the"
        " raw topics hold (the newest version of every item).",
    )


class ReplayJobView(BaseModel):
    """A replay job and how far it has come."""

    id: str
    workspace_id: str | None = Field(description="None: every workspace (crm-admin --all).")
    account_id: str | None = Field(default=None, description="Only this account's items.")
    kinds: list[ReplayKind]
    since: datetime | None
    state: str = Field(description="queued, waiting, copying, processing or done.")
    requested_by: str
    requested_at: datetime
    finished_at: datetime | None = None
    read: Progress = Field(description="Records of the raw topics' range read so far.")
    copied: int = Field(description="Of those, the records copied (the workspace's).")
    processed: Progress = Field(description="Of the records copied, those the matcher has done.")
    error: str | None = Field(default=None, description="Why the last slice of the job failed.")

    @classmethod
    def of(cls, job: ReplayJob, read: Progress, processed: Progress) -> "ReplayJobView":
        """From the stored job and its progress."""
        return cls(
            id=job.job_id,
            workspace_id=job.scope_workspace_id,
            account_id=job.scope_account_id,
            kinds=list(job.kinds),
            since=job.since,
            state=job.state,
            requested_by=job.requested_by,
            requested_at=job.requested_at,
            finished_at=job.finished_at,
            read=read,
            copied=job.copied,
            processed=processed,
            error=job.error,
        )


def _admin_of(viewer: Member, workspace_id: str) -> None:
    if workspace_id != viewer.workspace_id:
        raise HTTPException(404, f"no workspace with id {workspace_id}")
    if not viewer.is_admin:
        raise HTTPException(403, "only an admin of the workspace may reprocess its history")


async def queue_replay(
    replays: Replays, scope: ReplayScope, kinds: tuple[ReplayKind, ...], by: str
) -> ReplayJob:
    """Queue a replay of everything the raw topics hold; 409 when they no longer do."""
    try:
        return await replays.request(scope, kinds, None, by)
    except ReplayRefusedError as refused:
        raise ProblemError(409, str(refused)) from refused


async def check_replay(replays: Replays, kinds: tuple[ReplayKind, ...]) -> None:
    """409 when a replay of everything could not be done (before a change that asks for
    one is saved)."""
    try:
        await replays.check(kinds, None)
    except ReplayRefusedError as refused:
        raise ProblemError(409, f"{refused} Nothing was saved.") from refused


@router.post(
    "/{workspace_id}/reprocess",
    status_code=202,
    response_model=ReplayJobView,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def reprocess(
    workspace_id: str,
    body: ReprocessRequest,
    replays: Reprocessing,
    viewer: Viewer,
    response: Response,
) -> ReplayJobView:
    """Reprocess the workspace's mail, calendars or both under its settings now (admins):
    items now dropped leave the timelines, items now allowed appear, people and companies
    the settings create are created; nothing a user made is deleted. Returns the job."""
    _admin_of(viewer, workspace_id)
    try:
        job = await replays.request(
            ReplayScope(workspace_id), kinds_of(body.kinds), body.since, viewer.member_id
        )
    except ReplayRefusedError as refused:
        raise ProblemError(409, str(refused)) from refused
    response.headers["Location"] = f"/v1/workspaces/{workspace_id}/reprocess/{job.job_id}"
    return ReplayJobView.of(job, job.read(), Progress(done=0, total=0))


@router.get(
    "/{workspace_id}/reprocess/{job_id}",
    response_model=ReplayJobView,
    responses=problem_responses(401, 403, 404),
)
async def replay_job(
    workspace_id: str, job_id: str, replays: Reprocessing, viewer: Viewer
) -> ReplayJobView:
    """A replay job of the workspace and how far it has come (admins)."""
    _admin_of(viewer, workspace_id)
    found = await replays.progress(job_id)
    if found is None or found[0].scope_workspace_id != workspace_id:
        raise HTTPException(404, f"no replay job with id {job_id}")
    return ReplayJobView.of(*found)
