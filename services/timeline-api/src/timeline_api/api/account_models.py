"""Response bodies of the connected-accounts API (the requests are
``service.account_requests``'s).

A view of an account says which protocols are set up and how, never a password or a
token, sealed or not.
"""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_schemas.config import AccountConfigured, OAuthProvider, TlsMode
from timeline_api.domain.connection import Check
from timeline_api.service.account_status import SyncStatusView, status_views

__all__ = ["AccountView", "ConnectionTest", "OAuthStart", "OAuthStarted", "status_views"]


class ConnectionTest(BaseModel):
    """The outcome of 'test the connection': one check per protocol given."""

    ok: bool
    checks: list[Check]


class ServerView(BaseModel):
    """A server an account uses, without its password."""

    host: str | None = None
    port: int | None = None
    tls: TlsMode | None = None
    url: str | None = None
    username: str | None = None


class AccountView(BaseModel):
    """A connected account as its workspace sees it: settings, servers, sync status."""

    id: str
    workspace_id: str
    owner_member_id: str
    email: str
    aliases: list[str]
    provider: str = Field(description="imap, google or microsoft.")
    imap: ServerView | None = None
    smtp: ServerView | None = None
    caldav: ServerView | None = None
    mail: dict[str, Any]
    calendar: dict[str, Any]
    status: list[SyncStatusView]
    updated_at: datetime
    replay_job: str | None = Field(
        default=None,
        description="The replay job queued by apply_to_history, followed at"
        " /v1/workspaces/{workspace_id}/reprocess/{replay_job}.",
    )

    @classmethod
    def of(cls, account: AccountConfigured, status: list[SyncStatusView]) -> "AccountView":
        """From the account's config event and its statuses; no secret crosses over."""

        def server(conn: BaseModel | None) -> ServerView | None:
            if conn is None:
                return None
            return ServerView.model_validate(
                conn.model_dump(exclude={"password_encrypted", "refresh_token_encrypted"})
            )

        provider = account.oauth.provider.value if account.oauth else "imap"
        return cls(
            id=account.account_id,
            workspace_id=account.workspace_id,
            owner_member_id=account.owner_member_id,
            email=account.email,
            aliases=list(account.aliases),
            provider=provider,
            imap=server(account.imap),
            smtp=server(account.smtp),
            caldav=server(account.caldav),
            mail=account.mail.model_dump(mode="json"),
            calendar=account.calendar.model_dump(mode="json"),
            status=status,
            updated_at=account.updated_at,
        )


class OAuthStart(BaseModel):
    """Start connecting a Google or Microsoft account."""

    model_config = ConfigDict(extra="forbid")

    redirect_uri: Annotated[str, StringConstraints(min_length=8, max_length=2000)] | None = None


class OAuthStarted(BaseModel):
    """Send the user to ``consent_url``; the provider sends them back to the callback."""

    provider: OAuthProvider
    consent_url: str
    state: str
