"""What a route needs, taken from what the app's lifespan built, and who is asking."""

from typing import Annotated, cast

from fastapi import Depends, HTTPException, Request

from crm_runtime.mongo import Document
from timeline_api.directory import Directory
from timeline_api.domain.access import Member, bearer_key
from timeline_api.rosters import CompanyRosters
from timeline_api.settings import TimelineSettings
from timeline_api.store import TimelineStore
from timeline_api.timeline_index import TimelineIndex

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="crm"'}


def get_store(request: Request) -> TimelineStore:
    """The read model built at start-up."""
    return cast(TimelineStore, request.app.state.store)


def get_index(request: Request) -> TimelineIndex:
    """The timeline index's reader built at start-up (it keeps decoded heads)."""
    return cast(TimelineIndex, request.app.state.index)


def get_rosters(request: Request) -> CompanyRosters:
    """The company rosters' reader built at start-up."""
    return cast(CompanyRosters, request.app.state.rosters)


def get_settings(request: Request) -> TimelineSettings:
    """The app's settings."""
    return cast(TimelineSettings, request.app.state.settings)


def get_directory(request: Request) -> Directory:
    """Workspaces, members, keys and accounts."""
    return cast(Directory, request.app.state.directory)


async def get_viewer(request: Request) -> Member:
    """The member whose API key the request carries; 401 without a valid one."""
    key = bearer_key(request.headers.get("authorization"))
    if key is None:
        raise HTTPException(401, "an API key is required: Authorization: Bearer <key>", _CHALLENGE)
    member = await get_directory(request).member_for_key(key)
    if member is None:
        raise HTTPException(401, "this API key is unknown or was revoked", _CHALLENGE)
    return member


Store = Annotated[TimelineStore, Depends(get_store)]
Index = Annotated[TimelineIndex, Depends(get_index)]
Rosters = Annotated[CompanyRosters, Depends(get_rosters)]
Settings = Annotated[TimelineSettings, Depends(get_settings)]
Dir = Annotated[Directory, Depends(get_directory)]
Viewer = Annotated[Member, Depends(get_viewer)]


def in_workspace(doc: Document | None, viewer: Member, what: str, record_id: str) -> Document:
    """The document when it is in the viewer's workspace; else 404, as if it did not exist
    (another workspace's ids are not even confirmed to exist)."""
    if doc is None or doc.get("workspace_id") != viewer.workspace_id:
        raise HTTPException(404, f"no {what} with id {record_id}")
    return doc
