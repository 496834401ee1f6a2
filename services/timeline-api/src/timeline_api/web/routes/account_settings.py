"""An account's settings: who sees what, which contacts are created, which folders sync,
what is blocked. Each change applies to what is synced from then on; asked to, also to
what is already on the timelines (a replay of the account's history, the same use case
as the API's ``apply_to_history``), and the page says which."""

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from crm_schemas.config import AccountConfigured
from timeline_api.domain.ownership import ConflictError
from timeline_api.ports.accounts import FoldersUnavailableError
from timeline_api.service.account_actions import ChecksFailedError
from timeline_api.service.account_requests import AccountUpdate
from timeline_api.service.sign_in import SignedIn
from timeline_api.web.deps import App, FormPost, Member, WebRoute
from timeline_api.web.render import page
from timeline_api.web.routes.accounts import field_errors
from timeline_api.web.views import (
    CALENDAR_VISIBILITY_WORDS,
    CONTACT_CREATION_WORDS,
    MAIL_VISIBILITY_WORDS,
)

router = APIRouter(prefix="/app/accounts", route_class=WebRoute, include_in_schema=False)


def settings_body(form: FormData, account: AccountConfigured) -> AccountUpdate:
    """The API's settings change from the form: every setting the form shows."""

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    blocklist = [e.strip() for e in text("blocklist").replace(",", "\n").splitlines()]
    body: dict[str, Any] = {}
    if account.imap is not None or account.oauth is not None:
        body["mail"] = {
            "visibility": text("mail_visibility") or None,
            "contact_creation": text("contact_creation") or None,
            "include_folders": [str(f) for f in form.getlist("include_folders")],
            "exclude_folders": [str(f) for f in form.getlist("exclude_folders")],
            "blocklist": [e for e in blocklist if e],
        }
    if account.caldav is not None or account.oauth is not None:
        body["calendar"] = {
            "visibility": text("calendar_visibility") or None,
            "contact_creation": text("calendar_contacts") == "yes",
        }
    body["apply_to_history"] = text("apply_to_history") == "yes"
    return AccountUpdate.model_validate(body)


async def _settings_page(
    request: Request,
    app: App,
    member: SignedIn,
    account: AccountConfigured,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    folders: list[str] = []
    folders_error = None
    if account.owner_member_id == member.member.member_id:
        try:
            folders = await app.accounts.folders(account.account_id, member.member)
        except FoldersUnavailableError as error:
            folders_error = error.check.message
    chosen = [*account.mail.include_folders, *account.mail.exclude_folders]
    folders = list(dict.fromkeys([*folders, *chosen]))
    return page(
        request,
        "account_settings.html",
        status_code,
        account=account,
        folders=folders,
        folders_error=folders_error,
        owner=account.owner_member_id == member.member.member_id,
        mail_words=MAIL_VISIBILITY_WORDS,
        calendar_words=CALENDAR_VISIBILITY_WORDS,
        contact_words=CONTACT_CREATION_WORDS,
        signed_in=member,
        **extra,
    )


@router.get("/{account_id}/settings")
async def settings_form(
    request: Request,
    account_id: str,
    app: App,
    member: Member,
    saved: bool = False,
    replay: str | None = None,
) -> Response:
    """The settings, with the folders the server lists (after a save applied to history,
    the replay job that applies it)."""
    account = await app.accounts.account(account_id, member.member)
    return await _settings_page(request, app, member, account, saved=saved, replay=replay)


@router.post("/{account_id}/settings")
async def save_settings(request: Request, account_id: str, app: App, member: FormPost) -> Response:
    """Save (the owner only; a new folder selection is checked against the server)."""
    account = await app.accounts.account(account_id, member.member)
    form = await request.form()
    try:
        state = await app.accounts.update(account_id, settings_body(form, account), member.member)
    except ValidationError as error:
        errors = field_errors(error)
        return await _settings_page(request, app, member, account, 422, errors=errors)
    except ChecksFailedError as error:
        return await _settings_page(request, app, member, account, 422, errors=[str(error)])
    except ConflictError as error:  # the history to apply it to is no longer held
        return await _settings_page(request, app, member, account, 409, errors=[str(error)])
    replay = f"&replay={state.replay_job}" if state.replay_job else ""
    return RedirectResponse(
        f"/app/accounts/{account_id}/settings?saved=true{replay}", status_code=303
    )
