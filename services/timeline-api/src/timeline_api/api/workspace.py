"""The workspace of the member asking, its members, and their API keys.

Any member reads; only admins change the workspace or add members. A new key is shown in
the response that creates it and never again (only its digest is stored).
"""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_schemas.base import utcnow
from crm_schemas.config import WorkspaceConfigured
from timeline_api.api.deps import Dir, Reprocessing, Viewer
from timeline_api.api.problems import problem_responses
from timeline_api.api.replay import check_replay, queue_replay
from timeline_api.domain.access import Member, Role, member_for
from timeline_api.domain.fields import Domain, Email, Name
from timeline_api.domain.ownership import normalized_domains
from timeline_api.domain.replay import RETROACTIVE_WORKSPACE_FIELDS, ReplayScope

router = APIRouter(prefix="/v1", tags=["workspace"])
Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]


class MemberView(BaseModel):
    """A member of the workspace."""

    id: str
    email: str
    name: str
    role: Role

    @classmethod
    def of(cls, member: Member) -> "MemberView":
        """From the member record."""
        return cls(id=member.member_id, email=member.email, name=member.name, role=member.role)


class WorkspaceView(BaseModel):
    """A workspace and what makes mail internal to it."""

    id: str
    name: str
    domains: list[str]
    role_addresses_add: list[str] = Field(default_factory=list)
    role_addresses_remove: list[str] = Field(default_factory=list)
    personal_domains_add: list[str] = Field(default_factory=list)
    personal_domains_remove: list[str] = Field(default_factory=list)
    replay_job: str | None = Field(
        default=None,
        description="The replay job queued by apply_to_history, followed at"
        " /v1/workspaces/{id}/reprocess/{replay_job}.",
    )

    @classmethod
    def of(cls, ws: WorkspaceConfigured) -> "WorkspaceView":
        """From the workspace's config event."""
        return cls.model_validate(ws.model_dump() | {"id": ws.workspace_id})


class Me(BaseModel):
    """Who the API key acts as."""

    member: MemberView
    workspace: WorkspaceView


class WorkspaceUpdate(BaseModel):
    """Fields to change; each list replaces the one stored."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    domains: list[Domain] | None = Field(default=None, min_length=1)
    role_addresses_add: list[Label] | None = None
    role_addresses_remove: list[Label] | None = None
    personal_domains_add: list[Domain] | None = None
    personal_domains_remove: list[Domain] | None = None
    apply_to_history: bool = Field(
        default=False,
        description="Also reprocess the workspace's mail and meetings synced before under"
        " the new settings (a replay job; docs/replay.md).",
    )


class MemberCreate(BaseModel):
    """A teammate to add to the workspace."""

    model_config = ConfigDict(extra="forbid")

    email: Email
    name: Name | None = None
    role: Role = Role.MEMBER


class KeyCreate(BaseModel):
    """What the new key is for, to tell keys apart later."""

    model_config = ConfigDict(extra="forbid")

    label: Label = ""


class IssuedKey(BaseModel):
    """A new API key: shown this once, store it now."""

    member: MemberView
    api_key: str


def _admin(viewer: Member) -> None:
    if not viewer.is_admin:
        raise HTTPException(403, "only an admin of the workspace may do this")


async def _workspace(directory: Dir, viewer: Member) -> WorkspaceConfigured:
    ws = await directory.workspace(viewer.workspace_id)
    if ws is None:  # a key outlived its workspace's record: nothing to show
        raise HTTPException(404, "this key's workspace no longer exists")
    return ws


@router.get("/me", response_model=Me, responses=problem_responses(401))
async def me(directory: Dir, viewer: Viewer) -> Me:
    """The member this API key acts as, and their workspace."""
    ws = await _workspace(directory, viewer)
    return Me(member=MemberView.of(viewer), workspace=WorkspaceView.of(ws))


@router.get("/workspace", response_model=WorkspaceView, responses=problem_responses(401))
async def get_workspace(directory: Dir, viewer: Viewer) -> WorkspaceView:
    """The workspace: its name, its own domains, its adjustments to the maintained lists."""
    return WorkspaceView.of(await _workspace(directory, viewer))


@router.patch(
    "/workspace", response_model=WorkspaceView, responses=problem_responses(401, 403, 409, 422)
)
async def update_workspace(
    body: WorkspaceUpdate, directory: Dir, replays: Reprocessing, viewer: Viewer
) -> WorkspaceView:
    """Change the workspace (admins): it applies to everything processed from now on, and
    with ``apply_to_history`` to the mail and meetings synced before (a replay job)."""
    _admin(viewer)
    ws = await _workspace(directory, viewer)
    changes = body.model_dump(exclude_unset=True, exclude_none=True, exclude={"apply_to_history"})
    retroactive = body.apply_to_history and bool(RETROACTIVE_WORKSPACE_FIELDS & set(changes))
    if retroactive:
        await check_replay(replays, ("mail", "calendar"))
    for field in ("domains", "personal_domains_add", "personal_domains_remove"):
        if field in changes:
            changes[field] = normalized_domains(changes[field])
    for field in ("role_addresses_add", "role_addresses_remove"):
        if field in changes:
            changes[field] = tuple(dict.fromkeys(v.lower() for v in changes[field] if v))
    updated = ws.model_copy(update=changes | {"updated_at": utcnow()})
    await directory.save_workspace(updated)
    view = WorkspaceView.of(updated)
    if retroactive:
        scope = ReplayScope(updated.workspace_id)
        job = await queue_replay(replays, scope, ("mail", "calendar"), viewer.member_id)
        view = view.model_copy(update={"replay_job": job.job_id})
    return view


@router.get("/members", response_model=list[MemberView], responses=problem_responses(401))
async def list_members(directory: Dir, viewer: Viewer) -> list[MemberView]:
    """Every member of the workspace."""
    return [MemberView.of(m) for m in await directory.workspace_members(viewer.workspace_id)]


@router.post(
    "/members",
    status_code=201,
    response_model=IssuedKey,
    responses=problem_responses(401, 403, 409, 422),
)
async def add_member(
    body: MemberCreate, directory: Dir, viewer: Viewer, response: Response
) -> IssuedKey:
    """Add a teammate (admins); the answer carries their first API key, shown once."""
    _admin(viewer)
    member = member_for(viewer.workspace_id, body.email, body.name, body.role)
    if await directory.member(member.member_id) is not None:
        raise HTTPException(409, f"{member.email} is a member already")
    await directory.save_member(member)
    key = await directory.issue_key(member, "first key")
    response.headers["Location"] = f"/v1/members/{member.member_id}"
    return IssuedKey(member=MemberView.of(member), api_key=key)


@router.post(
    "/members/{member_id}/keys",
    status_code=201,
    response_model=IssuedKey,
    responses=problem_responses(401, 403, 404, 422),
)
async def issue_key(member_id: str, body: KeyCreate, directory: Dir, viewer: Viewer) -> IssuedKey:
    """A new API key for yourself, or (admins) for another member; shown once."""
    if member_id != viewer.member_id:
        _admin(viewer)
    member = await directory.member(member_id)
    if member is None or member.workspace_id != viewer.workspace_id:
        raise HTTPException(404, f"no member with id {member_id}")
    return IssuedKey(
        member=MemberView.of(member), api_key=await directory.issue_key(member, body.label)
    )
