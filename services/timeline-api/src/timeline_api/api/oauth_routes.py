"""Connecting Google and Microsoft accounts by OAuth 2 (authorization code with PKCE).

``start`` (as a member) returns the consent URL; the provider sends the user's browser
back to ``callback`` with a code and the state, which is single-use, expires after ten
minutes and says which member asked, so the callback needs no API key. The refresh
token is sealed at once and the account's first import is queued.
"""

import asyncio
from typing import Annotated, cast

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import RedirectResponse

from crm_runtime.secrets import secret_box
from crm_schemas.base import utcnow
from crm_schemas.config import AccountConfigured, OAuthConnection, OAuthProvider
from timeline_api.api.account_models import AccountView, OAuthStart, OAuthStarted
from timeline_api.api.accounts import Queue, account_view
from timeline_api.api.deps import Dir, Settings, Viewer
from timeline_api.api.problems import problem_responses
from timeline_api.domain.access import account_id_for
from timeline_api.ports.accounts import Consent, ConsentError
from timeline_api.service.oauth_consent import begin_consent, callback_uri

router = APIRouter(prefix="/v1/accounts/oauth", tags=["accounts"])


def get_consents(request: Request) -> dict[OAuthProvider, Consent]:
    """The providers this deployment has client credentials for."""
    return cast(dict[OAuthProvider, Consent], request.app.state.consents)


Consents = Annotated[dict[OAuthProvider, Consent], Depends(get_consents)]


def _consent(consents: dict[OAuthProvider, Consent], provider: OAuthProvider) -> Consent:
    found = consents.get(provider)
    if found is None:
        raise HTTPException(404, f"{provider.value} accounts are not set up on this deployment")
    return found


@router.post(
    "/{provider}/start",
    response_model=OAuthStarted,
    responses=problem_responses(401, 404, 422),
)
async def start(
    provider: OAuthProvider,
    body: OAuthStart,
    consents: Consents,
    directory: Dir,
    settings: Settings,
    viewer: Viewer,
) -> OAuthStarted:
    """Start connecting a Google or Microsoft account: send the user to ``consent_url``."""
    consent = _consent(consents, provider)
    redirect_uri = body.redirect_uri or callback_uri(settings.public_url, provider)
    url, state = await begin_consent(consent, directory, viewer, redirect_uri)
    return OAuthStarted(provider=provider, consent_url=url, state=state)


@router.get(
    "/{provider}/callback",
    status_code=201,
    response_model=AccountView,
    responses=problem_responses(400, 404, 409, 422),
)
async def callback(
    provider: OAuthProvider,
    request: Request,
    response: Response,
    consents: Consents,
    directory: Dir,
    queue: Queue,
    settings: Settings,
    state: Annotated[str, Query(min_length=1, max_length=500)],
    code: Annotated[str | None, Query(max_length=4000)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> AccountView | RedirectResponse:
    """Where the provider sends the user back: store the account and start its import."""
    pending = await directory.take_oauth_state(state)
    if pending is None or pending["provider"] != provider.value:
        raise HTTPException(400, "this consent link is unknown or was used already: start again")
    if pending["expires_at"] < utcnow():
        raise HTTPException(400, "this consent link expired: start again")
    if error is not None:
        raise HTTPException(400, f"consent was not given ({error}): start again to connect")
    if not code:
        raise HTTPException(400, "the provider sent no code: start again")
    consent = _consent(consents, provider)
    try:
        grant = await asyncio.to_thread(
            consent.exchange, pending["remembered"], dict(request.query_params)
        )
    except ConsentError as refused:
        raise HTTPException(400, str(refused)) from refused
    box = secret_box(settings)
    workspace_id = str(pending["workspace_id"])
    account = AccountConfigured(
        account_id=account_id_for(workspace_id, grant.email),
        workspace_id=workspace_id,
        owner_member_id=str(pending["member_id"]),
        email=grant.email,
        oauth=OAuthConnection(
            provider=provider,
            refresh_token_encrypted=box.seal(grant.refresh_token),
            scopes=grant.scopes,
            subject=grant.subject,
        ),
    )
    existing = await directory.account(account.account_id)
    if existing is not None and not existing.disconnected:
        if existing.owner_member_id != account.owner_member_id:
            raise HTTPException(409, f"{grant.email} is connected by another member already")
        account = existing.model_copy(update={"oauth": account.oauth, "updated_at": utcnow()})
    await directory.save_account(account)
    await queue.sync_now(account)
    if pending.get("return_to"):  # started in the web app: back to its accounts page
        return RedirectResponse(str(pending["return_to"]), status_code=303)
    response.headers["Location"] = f"/v1/accounts/{account.account_id}"
    return await account_view(directory, account)
