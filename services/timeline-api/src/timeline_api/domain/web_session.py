"""Signing in to the web app: one-time sign-in links and browser sessions (pure).

A member signs in with a link ``crm-admin sign-in-link`` prints: its token is random,
single use and short-lived, and only its digest is stored (like API keys). Redeeming it
opens a session: another random token, sent back only as an HttpOnly cookie, stored as a
digest with the member, an expiry and the session's CSRF token (docs/adr/0025).
"""

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

LINK_TTL = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class SignInLink:
    """Who a one-time sign-in link signs in, until when."""

    member_id: str
    workspace_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class WebSession:
    """A signed-in browser: whose, until when, and the token its forms must carry."""

    member_id: str
    workspace_id: str
    csrf_token: str
    expires_at: datetime


def new_token() -> str:
    """A fresh secret for a link, a session or a CSRF token: 256 random bits."""
    return secrets.token_urlsafe(32)


def is_expired(expires_at: datetime, now: datetime) -> bool:
    """Whether a link or a session is past its time."""
    return expires_at <= now


def same_token(given: str | None, expected: str) -> bool:
    """Whether a form carried the expected token (compared in constant time)."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
