"""What a route needs, taken from what the app's lifespan built, and who is asking.

Routes depend on ports and use cases only (``timeline_api.ports``, ``timeline_api.
service``), never on an adapter: ``entrypoints.http.install`` puts the real ones in the
app's state, a test puts fakes.
"""

from typing import Annotated, cast

from fastapi import Depends, HTTPException, Request

from timeline_api.domain.access import Member, bearer_key
from timeline_api.ports.accounts import Directory
from timeline_api.ports.common import Health
from timeline_api.ports.records import RecordReader
from timeline_api.ports.timelines import Conversations
from timeline_api.service.replay import Replays
from timeline_api.service.search import RecordSearch
from timeline_api.service.timelines import TimelineQueries
from timeline_api.settings import TimelineSettings

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="crm"'}


def get_settings(request: Request) -> TimelineSettings:
    """The app's settings."""
    return cast(TimelineSettings, request.app.state.settings)


def get_health(request: Request) -> Health:
    """Whether the read model's database answers."""
    return cast(Health, request.app.state.health)


def get_records(request: Request) -> RecordReader:
    """People, companies and opportunities as the read model keeps them."""
    return cast(RecordReader, request.app.state.records)


def get_conversations(request: Request) -> Conversations:
    """Threads with their messages, and what is known of one message."""
    return cast(Conversations, request.app.state.conversations)


def get_timelines(request: Request) -> TimelineQueries:
    """The Emails and Calendar tabs, from the read model the deployment chose."""
    return cast(TimelineQueries, request.app.state.timelines)


def get_search(request: Request) -> RecordSearch:
    """Searches of people, companies and opportunities."""
    return cast(RecordSearch, request.app.state.search)


def get_directory(request: Request) -> Directory:
    """Workspaces, members, keys and accounts."""
    return cast(Directory, request.app.state.directory)


def get_replays(request: Request) -> Replays:
    """Replay jobs: asked for, and followed."""
    return cast(Replays, request.app.state.replays)


async def get_viewer(request: Request) -> Member:
    """The member whose API key the request carries; 401 without a valid one."""
    key = bearer_key(request.headers.get("authorization"))
    if key is None:
        raise HTTPException(401, "an API key is required: Authorization: Bearer <key>", _CHALLENGE)
    member = await get_directory(request).member_for_key(key)
    if member is None:
        raise HTTPException(401, "this API key is unknown or was revoked", _CHALLENGE)
    return member


Settings = Annotated[TimelineSettings, Depends(get_settings)]
HealthCheck = Annotated[Health, Depends(get_health)]
Records = Annotated[RecordReader, Depends(get_records)]
Threads = Annotated[Conversations, Depends(get_conversations)]
Timelines = Annotated[TimelineQueries, Depends(get_timelines)]
Dir = Annotated[Directory, Depends(get_directory)]
Reprocessing = Annotated[Replays, Depends(get_replays)]
Search = Annotated[RecordSearch, Depends(get_search)]
Viewer = Annotated[Member, Depends(get_viewer)]
