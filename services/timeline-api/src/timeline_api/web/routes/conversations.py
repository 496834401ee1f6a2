"""A whole thread, a meeting, and "Why isn't this email here?", each as the viewer may
see it (the same redaction as the API's)."""

from typing import Any

from fastapi import APIRouter, Request, Response

from timeline_api.domain.ownership import NotFoundError
from timeline_api.domain.visibility import redact_event, redact_thread_detail
from timeline_api.service.explain import NotAMessageIdError, explain_or_search, message_id_in
from timeline_api.web.deps import App, Member, WebRoute
from timeline_api.web.render import page

router = APIRouter(prefix="/app", route_class=WebRoute, include_in_schema=False)


@router.get("/threads/{thread_id}")
async def thread(request: Request, thread_id: str, app: App, member: Member) -> Response:
    """Every message of the conversation in order, with its participants."""
    summary = await app.conversations.thread(thread_id)
    if summary is None or summary.workspace_id != member.member.workspace_id:
        raise NotFoundError(f"no thread with id {thread_id}")
    messages = await app.conversations.thread_messages(thread_id, with_body=True)
    detail = redact_thread_detail(summary, messages, member.member.member_id)
    return page(request, "thread.html", thread=detail, signed_in=member)


@router.get("/meetings/{meeting_id}")
async def meeting(request: Request, meeting_id: str, app: App, member: Member) -> Response:
    """A meeting: when, how long, who, and what the calendar's visibility allows."""
    event = await app.conversations.event(meeting_id)
    if event is None or event.workspace_id != member.member.workspace_id:
        raise NotFoundError(f"no meeting with id {meeting_id}")
    view = redact_event(event, member.member.member_id)
    return page(request, "meeting.html", meeting=view, signed_in=member)


@router.get("/explain")
async def why_not_here(request: Request, app: App, member: Member, text: str = "") -> Response:
    """A Message-ID (or a pasted header block) in, the explain answer in words out."""
    context: dict[str, Any] = {"text": text, "signed_in": member}
    if text.strip():
        message_id = message_id_in(text[:20_000])
        try:
            context["answer"] = await explain_or_search(
                app.conversations,
                app.records,
                app.mailbox_search,
                member.member,
                message_id,
                app.settings.lookup_wait_s,
            )
        except NotAMessageIdError:
            context["error"] = "That is not a Message-ID: paste the Message-ID header's value."
    return page(request, "explain.html", **context)
