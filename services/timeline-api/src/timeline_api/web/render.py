"""Pages from the Jinja2 templates, with the headers every page carries.

Pages are never cached (they show what a member may see now), never framed, and load
scripts and styles only from this app (Content-Security-Policy). Links carry no referrer,
so a sign-in link's token never leaves in a Referer header.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from timeline_api.web.assets import ASSETS
from timeline_api.web.views import (
    DROP_WORDS,
    STATE_WORDS,
    duration,
    participant_label,
    progress,
    when,
)

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.globals["asset"] = ASSETS.url
TEMPLATES.env.globals["STATE_WORDS"] = STATE_WORDS
TEMPLATES.env.globals["DROP_WORDS"] = DROP_WORDS
TEMPLATES.env.filters["when"] = when
TEMPLATES.env.filters["duration"] = duration
TEMPLATES.env.filters["participant"] = participant_label
TEMPLATES.env.globals["progress"] = progress
TEMPLATES.env.tests["contains"] = lambda values, value: value in values

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page (or an htmx fragment) rendered for the request."""
    context.setdefault("signed_in", None)
    context.setdefault("now", datetime.now(UTC))
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)
    response.headers.update(PAGE_HEADERS)
    return response


def error_page(request: Request, status_code: int, title: str, detail: str) -> HTMLResponse:
    """A page that says what went wrong and what to do."""
    signed_in = getattr(request.state, "signed_in", None)
    return page(request, "error.html", status_code, title=title, detail=detail, signed_in=signed_in)
