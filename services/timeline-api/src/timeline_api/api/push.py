"""Where the providers' notifications arrive (docs/push.md), under TIMELINE_PUBLIC_URL.

No API key: a provider cannot send one. Each notification is checked for what its
provider gives to check (Google's signed token, our channel token, our clientState),
answered at once, and turned into a sync request on Kafka; the fetcher does the work.
A refusal is problem+json with a status that says why; its log line names the reason,
never a token.
"""

import json
import logging
from collections.abc import Awaitable
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse

from crm_schemas.push import (
    CALENDAR_PUSH_PATH,
    GMAIL_PUSH_PATH,
    GRAPH_LIFECYCLE_PATH,
    GRAPH_PUSH_PATH,
)
from timeline_api.api.problems import ProblemError, problem_responses
from timeline_api.domain.push import PushRefused
from timeline_api.service.push import PushInbox, Received

router = APIRouter(tags=["push"])
log = logging.getLogger(__name__)
MAX_BODY = 1_000_000  # Graph batches and Pub/Sub messages are far smaller


def get_push_inbox(request: Request) -> PushInbox:
    """The use case behind the push endpoints, made at start-up."""
    return cast(PushInbox, request.app.state.push_inbox)


Inbox = Annotated[PushInbox, Depends(get_push_inbox)]
ValidationToken = Annotated[str | None, Query(alias="validationToken", max_length=4000)]


async def _json(request: Request) -> dict[str, Any]:
    body = await request.body()
    try:
        parsed = json.loads(body) if len(body) <= MAX_BODY else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise _refused(request, PushRefused(400, "the body is not a JSON object", "malformed"))
    return parsed


def _refused(request: Request, refusal: PushRefused) -> ProblemError:
    log.warning("push refused", extra={"path": request.url.path, "why": refusal.why})
    return ProblemError(refusal.status, refusal.detail)


async def _received(request: Request, handled: Awaitable[Received], status: int) -> Response:
    try:
        received = await handled
    except PushRefused as refusal:
        raise _refused(request, refusal) from None
    headers = {"X-Push-Queued": str(received.queued), "X-Push-Coalesced": str(received.coalesced)}
    return Response(status_code=status, headers=headers)


@router.post(GMAIL_PUSH_PATH, status_code=204, responses=problem_responses(400, 401, 403, 404))
async def gmail(request: Request, inbox: Inbox) -> Response:
    """Gmail's notifications, as the Pub/Sub push subscription delivers them (with
    Google's OIDC token); 204 acknowledges the message."""
    body = await _json(request)
    return await _received(request, inbox.gmail(request.headers.get("authorization"), body), 204)


@router.post(CALENDAR_PUSH_PATH, status_code=200, responses=problem_responses(400, 403, 404))
async def calendar(request: Request, inbox: Inbox) -> Response:
    """A Google Calendar channel's notification (its state in the X-Goog-* headers)."""
    headers = {k.lower(): v for k, v in request.headers.items() if k.lower().startswith("x-goog-")}
    return await _received(request, inbox.calendar(headers), 200)


def _handshake(token: str) -> Response:
    """Graph checks a notification URL by sending a validationToken it wants back as plain
    text within 10 seconds."""
    return PlainTextResponse(token, status_code=200)


@router.post(GRAPH_PUSH_PATH, status_code=202, responses=problem_responses(400, 403, 404))
async def graph(request: Request, inbox: Inbox, validation: ValidationToken = None) -> Response:
    """Microsoft Graph's change notifications, and its validation of this URL."""
    if validation is not None:
        return _handshake(validation)
    return await _received(request, inbox.graph(await _json(request)), 202)


@router.post(GRAPH_LIFECYCLE_PATH, status_code=202, responses=problem_responses(400, 403, 404))
async def graph_lifecycle(
    request: Request, inbox: Inbox, validation: ValidationToken = None
) -> Response:
    """Microsoft Graph's lifecycle notifications (a subscription removed, to reauthorise,
    or notifications missed): the fetcher renews or makes the subscription again, and
    syncs."""
    if validation is not None:
        return _handshake(validation)
    return await _received(request, inbox.graph(await _json(request), lifecycle=True), 202)
