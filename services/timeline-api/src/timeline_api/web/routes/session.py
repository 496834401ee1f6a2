"""Signing in with a one-time link, and signing out.

Opening a link shows a button; only pressing it (a POST) uses the link, so a mail
scanner or a browser's prefetch that opens the URL does not spend it. That form is
protected by a double-submit token (a cookie and a field that must match), since there
is no session yet; the session's own forms carry the session's token.
"""

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from timeline_api.domain.web_session import new_token, same_token
from timeline_api.service.sign_in import SignInError
from timeline_api.web.deps import CSRF_FIELD, SESSION_COOKIE, App, FormPost, WebRoute
from timeline_api.web.render import error_page, page

router = APIRouter(prefix="/app", route_class=WebRoute, include_in_schema=False)
SIGN_IN_COOKIE = "crm_sign_in"


def _set_cookie(
    response: Response, app: App, name: str, value: str, max_age: int, *, strict: bool
) -> None:
    """An HttpOnly cookie for the app's pages only (``Secure`` behind https)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/app/sign-in" if strict else "/app",
        httponly=True,
        samesite="strict" if strict else "lax",
        secure=app.settings.public_url.startswith("https://"),
    )


@router.get("/sign-in")
async def sign_in_help(request: Request, out: bool = False) -> Response:
    """How to get a sign-in link."""
    return page(request, "sign_in_help.html", signed_out=out)


@router.get("/sign-in/{token}")
async def sign_in_form(request: Request, token: str, app: App) -> Response:
    """The button that uses the link."""
    csrf = new_token()
    response = page(request, "sign_in.html", token=token, csrf=csrf)
    _set_cookie(response, app, SIGN_IN_COOKIE, csrf, 3600, strict=True)
    return response


@router.post("/sign-in/{token}")
async def sign_in(
    request: Request, token: str, app: App, csrf: Annotated[str, Form(alias=CSRF_FIELD)] = ""
) -> Response:
    """Use the link: a session cookie, then the app."""
    if not same_token(request.cookies.get(SIGN_IN_COOKIE), csrf) or not csrf:
        detail = "This sign-in form did not come from this app: open the link again."
        return error_page(request, 403, "Form refused", detail)
    try:
        session_token, _ = await app.sign_in.redeem(token)
    except SignInError as error:
        return error_page(request, 400, "Cannot sign in", str(error))
    response = RedirectResponse("/app/", status_code=303)
    response.delete_cookie(SIGN_IN_COOKIE, path="/app/sign-in")
    max_age = int(app.settings.web_session_hours * 3600)
    _set_cookie(response, app, SESSION_COOKIE, session_token, max_age, strict=False)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, app: App, member: FormPost) -> Response:
    """End the session: it no longer signs anyone in, wherever its cookie is."""
    await app.sign_in.sign_out(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/app/sign-in?out=true", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/app")
    return response
