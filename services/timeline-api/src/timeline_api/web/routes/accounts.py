"""The Accounts page: each connected mailbox and calendar with its sync status per kind,
sync now, disconnect (after a confirmation); connecting one (IMAP/SMTP/CalDAV, tested
first; Google and Microsoft where the deployment has their OAuth clients)."""

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from crm_schemas.config import OAuthProvider
from timeline_api.domain.ownership import ConflictError, NotFoundError
from timeline_api.service.account_actions import ChecksFailedError
from timeline_api.service.account_requests import AccountCreate
from timeline_api.service.oauth_consent import begin_consent, callback_uri
from timeline_api.web.deps import App, FormPost, Member, WebRoute
from timeline_api.web.render import page

router = APIRouter(prefix="/app/accounts", route_class=WebRoute, include_in_schema=False)

NOTICES = {
    "sync": "Sync requested: it starts within seconds.",
    "disconnected": "Disconnected. What only that account brought is leaving the timelines.",
    "connected": "Connected. The first import has started.",
}


async def _accounts_context(app: App, member: Member) -> dict[str, Any]:
    states = await app.accounts.accounts(member.member)
    busy = any(s.state in ("pending", "importing") for a in states for s in a.status)
    return {"states": states, "busy": busy, "signed_in": member}


@router.get("")
async def accounts(request: Request, app: App, member: Member, notice: str = "") -> Response:
    """Every connected account of the workspace and where its sync stands."""
    context = await _accounts_context(app, member)
    providers = sorted(p.value for p in app.consents)
    return page(
        request, "accounts.html", notice=NOTICES.get(notice), providers=providers, **context
    )


@router.get("/list")
async def account_list(request: Request, app: App, member: Member) -> Response:
    """The list alone: what the Accounts page refreshes while an import runs."""
    return page(request, "_account_list.html", **await _accounts_context(app, member))


@router.post("/{account_id}/sync")
async def sync_now(account_id: str, app: App, member: FormPost) -> Response:
    """Sync now, then back to the list."""
    await app.accounts.sync_now(account_id, member.member)
    return RedirectResponse("/app/accounts?notice=sync", status_code=303)


@router.get("/{account_id}/disconnect")
async def confirm_disconnect(
    request: Request, account_id: str, app: App, member: Member
) -> Response:
    """What disconnecting does, and the button that does it."""
    account = await app.accounts.account(account_id, member.member)
    return page(request, "disconnect.html", account=account, signed_in=member)


@router.post("/{account_id}/disconnect")
async def disconnect(account_id: str, app: App, member: FormPost) -> Response:
    """Disconnect, then back to the list."""
    await app.accounts.disconnect(account_id, member.member)
    return RedirectResponse("/app/accounts?notice=disconnected", status_code=303)


# --- connecting -----------------------------------------------------------------------


def connect_body(form: FormData) -> AccountCreate:
    """The API's connect request from the form's fields (empty fields left out)."""

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    body: dict[str, Any] = {"email": text("email")}
    login = {"username": text("username") or text("email"), "password": text("password")}
    if text("imap_host"):
        body["imap"] = {
            "host": text("imap_host"),
            "port": text("imap_port") or 993,
            "tls": text("imap_tls") or "ssl",
            **login,
        }
    if text("smtp_host"):
        body["smtp"] = {
            "host": text("smtp_host"),
            "port": text("smtp_port") or 587,
            "tls": text("smtp_tls") or "starttls",
        }
    if text("caldav_url"):
        caldav: dict[str, Any] = {"url": text("caldav_url")}
        if "imap" not in body:
            caldav |= login
        body["caldav"] = caldav
    return AccountCreate.model_validate(body)


def field_errors(error: ValidationError) -> list[str]:
    """Each invalid field in words."""
    errors = []
    for e in error.errors():
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "form"
        errors.append(f"{where}: {e.get('msg', 'invalid')}")
    return errors


def _form_values(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str) and k not in ("password", "csrf")}


@router.get("/connect")
async def connect_form(request: Request, member: Member) -> Response:
    """The IMAP/SMTP/CalDAV form."""
    return page(request, "connect.html", values={}, signed_in=member)


@router.post("/connect/test")
async def test_connection(request: Request, app: App, member: FormPost) -> Response:
    """'Test the connection': each protocol's result in words; nothing is stored. Answers
    the results alone to htmx (the form keeps its password), else the whole form."""
    form = await request.form()
    context: dict[str, Any] = {"values": _form_values(form), "signed_in": member}
    try:
        context["checks"] = await app.accounts.test(connect_body(form))
    except ValidationError as error:
        context["errors"] = field_errors(error)
    template = "_checks.html" if request.headers.get("hx-request") else "connect.html"
    return page(request, template, **context)


@router.post("/connect")
async def connect(request: Request, app: App, member: FormPost) -> Response:
    """Connect: tested first; nothing is stored unless every protocol passes."""
    form = await request.form()
    context: dict[str, Any] = {"values": _form_values(form), "signed_in": member}
    try:
        await app.accounts.connect(connect_body(form), member.member)
    except ValidationError as error:
        return page(request, "connect.html", 422, errors=field_errors(error), **context)
    except ChecksFailedError as error:
        context |= {"checks": error.checks, "errors": [str(error)]}
        return page(request, "connect.html", 422, **context)
    except ConflictError as error:
        return page(request, "connect.html", 409, errors=[str(error)], **context)
    return RedirectResponse("/app/accounts?notice=connected", status_code=303)


@router.post("/oauth/{provider}")
async def oauth_start(provider: str, app: App, member: FormPost) -> Response:
    """Off to Google's or Microsoft's consent page; back to the Accounts page after."""
    chosen = next((p for p in app.consents if p.value == provider), None)
    if chosen is None:
        raise NotFoundError(f"{provider} accounts are not set up on this deployment")
    redirect_uri = callback_uri(app.settings.public_url, OAuthProvider(chosen))
    url, _ = await begin_consent(
        app.consents[chosen],
        app.directory,
        member.member,
        redirect_uri,
        return_to="/app/accounts?notice=connected",
    )
    return RedirectResponse(url, status_code=303)
