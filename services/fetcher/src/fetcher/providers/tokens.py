"""Access tokens from an account's refresh token: google-auth for Google, msal for Microsoft.

Both libraries are synchronous; a refresh runs on a worker thread. A refused refresh
token (``invalid_grant``: revoked, expired, or the password changed) is the owner's to
fix, so it becomes SyncProblem(CONSENT): the account shows "failing: re-authorise" and
its sync stops, with no retries and no dead letters.
"""

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import google.auth.exceptions
import msal
import requests
from google.auth.transport.requests import Request
from google.oauth2.credentials import Credentials
from pydantic import SecretStr

from fetcher.domain.problems import ProblemKind, SyncProblem

GRAPH_DEFAULT_SCOPES = (
    "https://graph.microsoft.com/Mail.Read",
    "https://graph.microsoft.com/Calendars.Read",
)
# msal adds these itself and refuses them in a request.
_MSAL_RESERVED = frozenset({"openid", "profile", "offline_access"})
_REAUTHORISE = frozenset({"invalid_grant", "interaction_required", "invalid_client"})


class GoogleTokens:
    """Google access tokens, refreshed at ``token_uri`` with google-auth."""

    def __init__(
        self,
        refresh_token: SecretStr,
        client_id: str,
        client_secret: SecretStr,
        token_uri: str,
        scopes: Sequence[str] = (),
    ) -> None:
        self._credentials = Credentials(  # type: ignore[no-untyped-call]
            token=None,
            refresh_token=refresh_token.get_secret_value(),
            token_uri=token_uri,
            client_id=client_id,
            client_secret=client_secret.get_secret_value(),
            scopes=list(scopes) or None,
        )
        self._transport = Request()  # one HTTP session for every refresh of this account
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        """A valid access token, refreshed when missing or about to expire."""
        async with self._lock:
            if not self._credentials.valid:
                await self._refresh()
            return str(self._credentials.token)

    async def renew(self) -> str:
        """A freshly refreshed access token."""
        async with self._lock:
            await self._refresh()
            return str(self._credentials.token)

    async def _refresh(self) -> None:
        try:
            await asyncio.to_thread(self._credentials.refresh, self._transport)
        except google.auth.exceptions.RefreshError as error:
            raise SyncProblem(ProblemKind.CONSENT, "Google", _first(error.args)) from error
        except google.auth.exceptions.TransportError as error:
            raise SyncProblem(ProblemKind.CONNECTION, "Google", repr(error)) from error


class TokenKeeper(Protocol):
    """Where an account's rotated refresh tokens are kept (``adapters.oauth_tokens``)."""

    async def newest(self, account_id: str, consent: SecretStr) -> SecretStr: ...

    async def keep(self, account_id: str, consent: SecretStr, newest: SecretStr) -> None: ...


@dataclass(frozen=True, slots=True)
class Rotation:
    """Which account's tokens rotate, and where the newest one is kept."""

    account_id: str
    keeper: TokenKeeper


class MicrosoftTokens:
    """Microsoft identity platform access tokens, refreshed with msal.

    Microsoft rotates refresh tokens: with a ``rotation``, the newest one is kept across
    jobs and restarts, and used from then on (the consent's own token expires in time).
    """

    def __init__(
        self,
        refresh_token: SecretStr,
        client_id: str,
        client_secret: SecretStr,
        authority: str,
        scopes: Sequence[str] = (),
        ca_file: str | None = None,
        rotation: Rotation | None = None,
    ) -> None:
        self._consent = refresh_token
        self._refresh_token = refresh_token
        self._rotation = rotation
        self._loaded = rotation is None
        self._client_id = client_id
        self._client_secret = client_secret
        self._authority = authority
        wanted = [s for s in scopes if s not in _MSAL_RESERVED] or list(GRAPH_DEFAULT_SCOPES)
        self._scopes = wanted
        self._ca_file = ca_file
        self._app: msal.ConfidentialClientApplication | None = None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        """A valid access token, refreshed when missing or about to expire."""
        async with self._lock:
            if self._token is None or time.monotonic() > self._expires_at - 60:
                await self._refresh()
            assert self._token is not None
            return self._token

    async def renew(self) -> str:
        """A freshly refreshed access token."""
        async with self._lock:
            await self._refresh()
            assert self._token is not None
            return self._token

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            # The authority is configurable (tests point it at an emulator), so msal must
            # not check it against Microsoft's list of instances.
            self._app = msal.ConfidentialClientApplication(
                self._client_id,
                client_credential=self._client_secret.get_secret_value(),
                authority=self._authority,
                validate_authority=False,
                instance_discovery=False,
                http_client=self._http_client(),
            )
        return self._app

    def _http_client(self) -> requests.Session | None:
        """msal's HTTP session; with an extra CA bundle, one that trusts exactly it
        (requests would otherwise prefer REQUESTS_CA_BUNDLE from the environment)."""
        if self._ca_file is None:
            return None
        session = requests.Session()
        session.trust_env = False
        session.verify = self._ca_file
        return session

    def _redeem(self) -> dict[str, Any]:
        try:
            app = self._application()
        except ValueError as error:  # the authority's discovery document is unreachable
            raise SyncProblem(ProblemKind.CONNECTION, "Microsoft", str(error)) from error
        result: dict[str, Any] = app.acquire_token_by_refresh_token(
            self._refresh_token.get_secret_value(), scopes=self._scopes
        )
        return result

    async def _refresh(self) -> None:
        if not self._loaded and self._rotation is not None:
            rotation = self._rotation
            self._refresh_token = await rotation.keeper.newest(rotation.account_id, self._consent)
            self._loaded = True
        try:
            result = await asyncio.to_thread(self._redeem)
        except OSError as error:
            raise SyncProblem(ProblemKind.CONNECTION, "Microsoft", repr(error)) from error
        if "access_token" in result:
            self._token = str(result["access_token"])
            self._expires_at = time.monotonic() + float(result.get("expires_in", 3600))
            rotated = str(result.get("refresh_token") or "")
            if rotated and rotated != self._refresh_token.get_secret_value():
                self._refresh_token = SecretStr(rotated)
                if self._rotation is not None:
                    await self._rotation.keeper.keep(
                        self._rotation.account_id, self._consent, self._refresh_token
                    )
            return
        code = str(result.get("error", ""))
        kind = ProblemKind.CONSENT if code in _REAUTHORISE else ProblemKind.PROTOCOL
        raise SyncProblem(kind, "Microsoft", f"{code}: {result.get('error_description', '')}")


def _first(args: tuple[object, ...]) -> str:
    return str(args[0]) if args else ""
