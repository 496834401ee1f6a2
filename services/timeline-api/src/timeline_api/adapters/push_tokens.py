"""Google's OIDC tokens on Pub/Sub push (``ports.push.PushTokens``): the signature checked
against the keys Google publishes as a JWKS (``TIMELINE_PUSH_GOOGLE_CERTS_URL``; tests
point it at the emulator's), with PyJWT. The keys are cached for an hour and fetched
again when a token names a key not in the cache (Google rotates them)."""

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any

import jwt

from timeline_api.ports.push import PushTokenError

LEEWAY_S = 30  # clocks disagree a little; Google's tokens live an hour


class GoogleSignedTokens:
    """Checks RS256 tokens against a JWKS URL; audience, issuer and email are the
    domain's to check (``domain.push.check_google_claims``)."""

    def __init__(self, certs_url: str, ca_bundle: str | None = None) -> None:
        context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else None
        self._keys = jwt.PyJWKClient(
            certs_url, cache_keys=True, lifespan=3600, timeout=10, ssl_context=context
        )

    async def claims(self, token: str) -> Mapping[str, Any]:
        """The token's claims once its signature and expiry hold."""
        try:
            key = await asyncio.to_thread(self._keys.get_signing_key_from_jwt, token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                leeway=LEEWAY_S,
                options={"verify_aud": False, "require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.PyJWKClientConnectionError as error:
            raise PushTokenError("Google's signing keys could not be fetched") from error
        except jwt.PyJWTError as error:  # PyJWT's messages never quote the token
            raise PushTokenError(str(error) or type(error).__name__) from error
        return claims
