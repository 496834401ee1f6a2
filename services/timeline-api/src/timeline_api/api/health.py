"""Liveness that means something: the database answers."""

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError

from timeline_api.api.deps import Settings, Store
from timeline_api.api.models import Health
from timeline_api.api.problems import PROBLEM_JSON, problem_responses

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, responses=problem_responses(503))
async def healthz(store: Store, settings: Settings) -> Health | JSONResponse:
    """200 when MongoDB answers a ping, 503 (problem+json) otherwise."""
    try:
        await asyncio.wait_for(store.ping(), timeout=settings.health_timeout_s)
    except (TimeoutError, PyMongoError) as error:
        return JSONResponse(
            {
                "type": "about:blank",
                "title": "Service Unavailable",
                "status": 503,
                "detail": f"database not answering: {type(error).__name__}",
            },
            status_code=503,
            media_type=PROBLEM_JSON,
        )
    return Health(status="ok")
