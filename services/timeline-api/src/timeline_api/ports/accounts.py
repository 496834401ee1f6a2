"""The ports of workspaces and accounts: ``Directory`` and ``SyncStatuses``, ``SignIns`` of
the web app, ``ConnectionChecker`` and ``Consent`` for connecting a mailbox."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import SecretStr

from crm_schemas.config import AccountConfigured, OAuthProvider, TlsMode, WorkspaceConfigured
from crm_schemas.sync import SyncKind, SyncStatusChanged
from timeline_api.domain.access import Member
from timeline_api.domain.connection import Check
from timeline_api.domain.web_session import SignInLink, WebSession


class SyncStatuses(Protocol):
    """Each account's newest sync status per kind."""

    async def record_status(self, status: SyncStatusChanged) -> None:
        """Keep a report unless a newer one is kept already."""
        ...

    async def statuses(self, account_id: str) -> dict[SyncKind, Mapping[str, Any]]:
        """The newest status of each kind the account has reported."""
        ...


class Directory(SyncStatuses, Protocol):
    """Workspaces, members, API keys, connected accounts and their sync status; a change
    of a workspace or an account is stored, then published on the config topic for every
    other service."""

    async def save_workspace(self, event: WorkspaceConfigured) -> None:
        """Store a workspace's new version, then tell every service."""
        ...

    async def workspace(self, workspace_id: str) -> WorkspaceConfigured | None:
        """The workspace, or None."""
        ...

    async def save_member(self, member: Member) -> None:
        """Store a member (the id is deterministic, so this is an upsert)."""
        ...

    async def member(self, member_id: str) -> Member | None:
        """The member, or None."""
        ...

    async def workspace_members(self, workspace_id: str) -> list[Member]:
        """Every member of a workspace, by id."""
        ...

    async def issue_key(self, member: Member, label: str = "") -> str:
        """A new API key for the member: shown now or never (only its digest is kept)."""
        ...

    async def member_for_key(self, key: str) -> Member | None:
        """The member a key belongs to, None for an unknown or revoked key."""
        ...

    async def save_account(self, event: AccountConfigured) -> None:
        """Store an account's new version, then tell every service (the fetcher syncs it)."""
        ...

    async def account(self, account_id: str) -> AccountConfigured | None:
        """The account, or None."""
        ...

    async def all_accounts(self) -> list[AccountConfigured]:
        """Every account of every workspace, disconnected ones included, by id."""
        ...

    async def workspace_accounts(self, workspace_id: str) -> list[AccountConfigured]:
        """Every connected account of a workspace (disconnected ones left out), by id."""
        ...

    async def save_oauth_state(self, state: str, doc: dict[str, Any]) -> None:
        """Remember a consent request until its callback comes back with ``state``."""
        ...

    async def take_oauth_state(self, state: str) -> dict[str, Any] | None:
        """The consent request of ``state``, at most once."""
        ...


class SignIns(Protocol):
    """One-time sign-in links and web sessions, each kept by the digest of its token."""

    async def save_link(self, digest: str, link: SignInLink) -> None:
        """Remember a sign-in link until it is used or expires."""
        ...

    async def take_link(self, digest: str) -> SignInLink | None:
        """The link of this digest, at most once: it is forgotten as it is read."""
        ...

    async def save_session(self, digest: str, session: WebSession) -> None:
        """Keep a session."""
        ...

    async def session(self, digest: str) -> WebSession | None:
        """The session of this digest, or None."""
        ...

    async def end_session(self, digest: str) -> None:
        """Forget a session (signing out, or found expired)."""
        ...


class ConnectionChecker(Protocol):
    """Checks an account's servers before it is stored (nothing is written to them)."""

    async def imap(
        self,
        host: str,
        port: int,
        tls: TlsMode,
        user: str,
        password: SecretStr,
        folders: Sequence[str],
    ) -> Check:
        """Log in over IMAP and check that every chosen folder exists."""
        ...

    async def smtp(
        self, host: str, port: int, tls: TlsMode, user: str, password: SecretStr
    ) -> Check:
        """Log in over SMTP."""
        ...

    async def caldav(self, url: str, user: str, password: SecretStr) -> Check:
        """Discover the principal's calendars over CalDAV."""
        ...

    async def folders(
        self, host: str, port: int, tls: TlsMode, user: str, password: SecretStr
    ) -> list[str]:
        """The folders an IMAP server lists for the login, sorted; ``FoldersUnavailableError``
        with the failed check when it cannot be reached or refuses the login."""
        ...


class FoldersUnavailableError(Exception):
    """The folders could not be listed; ``check`` says why, in words."""

    def __init__(self, check: Check) -> None:
        super().__init__(check.message)
        self.check = check


class ConsentError(Exception):
    """The provider did not give us the account: the message says why, for the user."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What a consent gave: the account's address and id, and the long-lived token."""

    email: str
    subject: str | None
    refresh_token: str
    scopes: tuple[str, ...]


class Consent(Protocol):
    """One provider's OAuth 2 authorization-code flow (synchronous: run off the loop)."""

    provider: OAuthProvider

    def consent(self, state: str, redirect_uri: str) -> tuple[str, dict[str, Any]]:
        """The consent URL, and what to remember until the callback."""
        ...

    def exchange(self, remembered: Mapping[str, Any], query: dict[str, str]) -> Grant:
        """The grant for the callback's query (code and state); ConsentError if refused."""
        ...
