"""An OAuth 2 token authority as Google's and Microsoft's token endpoints behave (RFC 6749
section 6 refresh grant): a revoked or unknown refresh token gets 400 ``invalid_grant``, a
wrong client 401 ``invalid_client``; access tokens expire after ``access_ttl_s``.

With ``rotate_refresh_tokens`` it answers every refresh with a new refresh token, as the
Microsoft identity platform does, and retires the one just used. Microsoft lets an old
token live until its own expiry; retiring it at once is stricter, so that a client that
does not keep the newest token fails here instead of 90 days later in production."""

import secrets
import threading
import time
from dataclasses import dataclass, field


@dataclass
class TokenAuthority:
    """Issues and checks tokens for the emulated users (a user is a mailbox address)."""

    client_id: str
    client_secret: str
    access_ttl_s: float = 3600.0
    rotate_refresh_tokens: bool = False
    _refresh: dict[str, str] = field(default_factory=dict)  # refresh token -> user
    _access: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> user, expiry
    _lock: threading.Lock = field(default_factory=threading.Lock)
    refreshes: int = 0

    def consent(self, user: str) -> str:
        """A new refresh token for ``user``, as the consent screen's code exchange gives."""
        token = "1//rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self._refresh[token] = user
        return token

    def revoke(self, user: str) -> None:
        """The user withdrew consent: every token of theirs stops working."""
        with self._lock:
            self._refresh = {t: u for t, u in self._refresh.items() if u != user}
            self._access = {t: v for t, v in self._access.items() if v[0] != user}

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now (an hour passed, in a test)."""
        with self._lock:
            self._access = {t: (u, 0.0) for t, (u, _) in self._access.items()}

    def grant(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        """The token endpoint's answer to a refresh-token grant."""
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type"}
        with self._lock:
            user = self._refresh.get(form.get("refresh_token", ""))
            if user is None:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "Token has been expired or revoked.",
                }
            access = "ya29." + secrets.token_urlsafe(24)
            self._access[access] = (user, time.monotonic() + self.access_ttl_s)
            self.refreshes += 1
            answer: dict[str, object] = {
                "access_token": access,
                "expires_in": int(self.access_ttl_s),
                "token_type": "Bearer",
                "scope": form.get("scope", ""),
            }
            if self.rotate_refresh_tokens:
                del self._refresh[form["refresh_token"]]
                rotated = "1//rt-" + secrets.token_urlsafe(24)
                self._refresh[rotated] = user
                answer["refresh_token"] = rotated
        return 200, answer

    def user_of(self, authorization: str | None) -> str | None:
        """The user a ``Bearer`` header authorises, None when missing, unknown or expired."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        with self._lock:
            found = self._access.get(authorization.removeprefix("Bearer ").strip())
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]
