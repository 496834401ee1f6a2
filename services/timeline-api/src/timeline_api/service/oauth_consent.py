"""Starting to connect a Google or Microsoft account: the consent URL, and the request
remembered (single use, ten minutes, as a digest of its state) until the provider sends
the browser back. The API's ``/v1/accounts/oauth/{provider}/start`` and the web app's
buttons both start here."""

import asyncio
from datetime import timedelta
from secrets import token_urlsafe

from crm_schemas.base import utcnow
from crm_schemas.config import OAuthProvider
from timeline_api.domain.access import Member
from timeline_api.ports.accounts import Consent, Directory

STATE_TTL = timedelta(minutes=10)


def callback_uri(public_url: str, provider: OAuthProvider) -> str:
    """Where the provider sends the browser back."""
    return f"{public_url.rstrip('/')}/v1/accounts/oauth/{provider.value}/callback"


async def begin_consent(
    consent: Consent,
    directory: Directory,
    viewer: Member,
    redirect_uri: str,
    return_to: str | None = None,
) -> tuple[str, str]:
    """The consent URL and its state; ``return_to`` is where the callback sends a browser
    once the account is stored (the web app), else it answers the account."""
    state = token_urlsafe(32)
    url, remembered = await asyncio.to_thread(consent.consent, state, redirect_uri)
    await directory.save_oauth_state(
        state,
        {
            "provider": consent.provider.value,
            "member_id": viewer.member_id,
            "workspace_id": viewer.workspace_id,
            "remembered": remembered,
            "expires_at": utcnow() + STATE_TTL,
            "return_to": return_to,
        },
    )
    return url, state
