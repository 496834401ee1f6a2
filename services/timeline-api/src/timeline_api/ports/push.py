"""The ports of provider notifications: ``PushTokens`` checks them, ``PushMarks`` coalesces
them, ``PushAccounts`` finds their account."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from crm_schemas.config import AccountConfigured


class PushTokenError(Exception):
    """A push's bearer token is not a valid token signed by the provider (bad signature,
    expired, unknown key); the message says why, without the token."""


class PushTokens(Protocol):
    """Checks the OIDC tokens Google signs for Pub/Sub push."""

    async def claims(self, token: str) -> Mapping[str, Any]:
        """The claims of a token whose signature (against Google's published keys) and
        expiry hold; raises PushTokenError otherwise."""
        ...


class PushMarks(Protocol):
    """Marks that one replica takes, once, to queue a push sync (shared by replicas)."""

    async def claim(self, key: str, at: datetime) -> bool:
        """Take ``key``: True for the first taker ever, False for everyone after."""
        ...

    async def sweep(self, before: datetime) -> int:
        """Forget marks taken before ``before``; how many."""
        ...


class PushAccounts(Protocol):
    """The connected accounts a notification may be for."""

    async def account(self, account_id: str) -> AccountConfigured | None:
        """The account, or None."""
        ...

    async def accounts_by_email(self, email: str) -> list[AccountConfigured]:
        """The connected accounts of an address (one per workspace that connected it)."""
        ...
