"""What a route needs, taken from what the app's lifespan built."""

from typing import Annotated, cast

from fastapi import Depends, Request

from timeline_api.settings import TimelineSettings
from timeline_api.store import TimelineStore


def get_store(request: Request) -> TimelineStore:
    """The read model built at start-up."""
    return cast(TimelineStore, request.app.state.store)


def get_settings(request: Request) -> TimelineSettings:
    """The app's settings."""
    return cast(TimelineSettings, request.app.state.settings)


def get_viewer(request: Request) -> str | None:
    """The workspace member asking. No authentication yet: every viewer is a non-owner."""
    return None


Store = Annotated[TimelineStore, Depends(get_store)]
Settings = Annotated[TimelineSettings, Depends(get_settings)]
Viewer = Annotated[str | None, Depends(get_viewer)]
