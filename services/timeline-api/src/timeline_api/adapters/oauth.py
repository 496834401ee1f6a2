"""OAuth 2 consent for Google (google-auth-oauthlib) and Microsoft (msal).

The authorization-code flow with PKCE: ``consent`` gives the URL to send the user to and
what must be remembered until the callback; ``exchange`` trades the code the provider
sent back for tokens. Only the refresh token is kept (sealed); the fetcher refreshes its
own access tokens. Both libraries are synchronous and run off the event loop.

The ID token comes straight from the provider's token endpoint over TLS, so its claims
are read without checking its signature (OpenID Connect Core 1.0, 3.1.3.7): it only names
the account that consented. msal checks audience, nonce and expiry itself.
"""

import base64
import json
from collections.abc import Mapping
from typing import Any

import msal
import requests
from google_auth_oauthlib.flow import Flow

from crm_schemas.config import OAuthProvider
from timeline_api.ports.accounts import Consent, ConsentError, Grant
from timeline_api.settings import TimelineSettings

GOOGLE_SCOPES = (
    "openid",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/calendar.readonly",
)
MICROSOFT_SCOPES = ("Mail.Read", "Calendars.Read", "User.Read")  # msal adds offline_access


def id_token_claims(id_token: str) -> dict[str, Any]:
    """The claims of a JWT received directly from a token endpoint (no signature check)."""
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as error:
        raise ConsentError("the provider's ID token is not readable") from error
    if not isinstance(claims, dict):
        raise ConsentError("the provider's ID token is not readable")
    return claims


def _session(ca_bundle: str | None) -> requests.Session:
    session = requests.Session()
    if ca_bundle:
        session.verify = ca_bundle
        session.trust_env = False  # else REQUESTS_CA_BUNDLE in the environment wins
    return session


class GoogleConsent:
    """Google's OAuth 2 web-server flow, offline access (a refresh token), PKCE."""

    provider = OAuthProvider.GOOGLE

    def __init__(self, settings: TimelineSettings) -> None:
        self._settings = settings

    def _flow(self, redirect_uri: str) -> Flow:
        s = self._settings
        config = {
            "web": {
                "client_id": s.google_client_id,
                "client_secret": s.google_client_secret.get_secret_value(),
                "auth_uri": s.google_auth_uri,
                "token_uri": s.google_token_uri,
                "redirect_uris": [redirect_uri],
            }
        }
        flow = Flow.from_client_config(
            config, scopes=list(GOOGLE_SCOPES), redirect_uri=redirect_uri
        )
        flow.oauth2session.verify = s.oauth_ca_bundle or True
        return flow

    def consent(self, state: str, redirect_uri: str) -> tuple[str, dict[str, Any]]:
        flow = self._flow(redirect_uri)
        flow.autogenerate_code_verifier = True
        url, _ = flow.authorization_url(
            state=state, access_type="offline", prompt="consent", include_granted_scopes="true"
        )
        return url, {"redirect_uri": redirect_uri, "code_verifier": flow.code_verifier}

    def exchange(self, remembered: Mapping[str, Any], query: dict[str, str]) -> Grant:
        flow = self._flow(remembered["redirect_uri"])
        flow.code_verifier = remembered["code_verifier"]
        try:
            verify = self._settings.oauth_ca_bundle or True
            token = flow.fetch_token(code=query.get("code", ""), verify=verify)
        except Exception as error:  # oauthlib raises its own hierarchy and requests' errors
            raise ConsentError(f"Google refused the consent code: {_oauth_error(error)}") from error
        refresh = token.get("refresh_token")
        if not refresh:
            raise ConsentError("Google gave no refresh token: consent again (offline access)")
        claims = id_token_claims(str(token.get("id_token", "")))
        if not claims.get("email") or claims.get("email_verified") is False:
            raise ConsentError("Google did not name a verified address for this account")
        scopes = token.get("scope", [])
        return Grant(
            email=str(claims["email"]).lower(),
            subject=str(claims.get("sub")) if claims.get("sub") else None,
            refresh_token=str(refresh),
            scopes=tuple(scopes.split() if isinstance(scopes, str) else scopes),
        )


class MicrosoftConsent:
    """The Microsoft identity platform's auth-code flow through msal (PKCE, nonce, state)."""

    provider = OAuthProvider.MICROSOFT

    def __init__(self, settings: TimelineSettings) -> None:
        self._settings = settings

    def _app(self) -> msal.ConfidentialClientApplication:
        s = self._settings
        return msal.ConfidentialClientApplication(
            s.microsoft_client_id,
            client_credential=s.microsoft_client_secret.get_secret_value(),
            authority=s.microsoft_authority,
            http_client=_session(s.oauth_ca_bundle),
            validate_authority=not s.oauth_ca_bundle,  # an emulator is no known authority
            instance_discovery=not s.oauth_ca_bundle,
        )

    def consent(self, state: str, redirect_uri: str) -> tuple[str, dict[str, Any]]:
        flow = self._app().initiate_auth_code_flow(
            list(MICROSOFT_SCOPES), redirect_uri=redirect_uri, state=state, prompt="select_account"
        )
        return str(flow["auth_uri"]), {"flow": flow}

    def exchange(self, remembered: Mapping[str, Any], query: dict[str, str]) -> Grant:
        result = self._app().acquire_token_by_auth_code_flow(remembered["flow"], query)
        if "error" in result:
            detail = result.get("error_description") or result["error"]
            raise ConsentError(f"Microsoft refused the consent: {detail}")
        refresh = result.get("refresh_token")
        claims = result.get("id_token_claims") or {}
        email = claims.get("preferred_username") or claims.get("email")
        if not refresh or not email:
            raise ConsentError("Microsoft gave no refresh token or address: consent again")
        return Grant(
            email=str(email).lower(),
            subject=str(claims.get("oid") or claims.get("sub") or "") or None,
            refresh_token=str(refresh),
            scopes=tuple(str(result.get("scope", "")).split()),
        )


def _oauth_error(error: Exception) -> str:
    description = getattr(error, "description", None) or getattr(error, "error", None)
    return str(description or error)


def consents(settings: TimelineSettings) -> dict[OAuthProvider, Consent]:
    """The providers this deployment has client credentials for."""
    found: dict[OAuthProvider, Consent] = {}
    if settings.google_client_id:
        found[OAuthProvider.GOOGLE] = GoogleConsent(settings)
    if settings.microsoft_client_id:
        found[OAuthProvider.MICROSOFT] = MicrosoftConsent(settings)
    return found
