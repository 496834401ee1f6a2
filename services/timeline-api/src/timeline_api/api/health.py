"""Liveness that means something: the database answers."""

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from timeline_api.api.deps import HealthCheck, Settings
from timeline_api.api.models import Health
from timeline_api.api.problems import PROBLEM_JSON, problem_responses
from timeline_api.ports.common import UnavailableError

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, responses=problem_responses(503))
async def healthz(database: HealthCheck, settings: Settings) -> Health | JSONResponse:
    """200 when MongoDB answers a ping, 503 (problem+json) otherwise."""
    try:
        await asyncio.wait_for(database.ping(), timeout=settings.health_timeout_s)
    except TimeoutError as error:
        return _unavailable(type(error).__name__)
    except UnavailableError as error:
        return _unavailable(str(error))
    return Health(status="ok")


def _unavailable(reason: str) -> JSONResponse:
    return JSONResponse(
        {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": f"database not answering: {reason}",
        },
        status_code=503,
        media_type=PROBLEM_JSON,
    )
