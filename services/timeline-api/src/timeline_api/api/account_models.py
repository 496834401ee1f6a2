"""Response bodies of the connected-accounts API (the requests are
``service.account_requests``'s).

A view of an account says which protocols are set up and how, never a password or a
token, sealed or not.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_schemas.config import AccountConfigured, OAuthProvider, TlsMode
from crm_schemas.sync import SyncKind
from timeline_api.domain.connection import Check
from timeline_api.service.accounts import synced_kinds


class ConnectionTest(BaseModel):
    """The outcome of 'test the connection': one check per protocol given."""

    ok: bool
    checks: list[Check]


class PushView(BaseModel):
    """Whether the provider notifies this account's changes at once, and why not."""

    active: bool
    reason: str | None = None
    remedy: str | None = None
    expires_at: datetime | None = Field(
        default=None, description="When the provider's subscription ends unless renewed."
    )


class SyncStatusView(BaseModel):
    """Where one kind of sync of an account stands."""

    kind: SyncKind
    state: str = Field(
        description="pending (no sync has reported yet), importing, up_to_date or failing."
    )
    done: int = 0
    total: int | None = None
    started_at: datetime | None = None
    last_sync_at: datetime | None = None
    reason: str | None = None
    remedy: str | None = None
    at: datetime | None = None
    push: PushView | None = Field(
        default=None,
        description="Provider push (Google, Microsoft) as the last sync found it; null when"
        " not reported (IMAP and CalDAV accounts: IMAP IDLE is their push).",
    )


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


def status_views(
    account: AccountConfigured, reported: Mapping[SyncKind, Mapping[str, Any]]
) -> list[SyncStatusView]:
    """Each kind's sync status as its owner reads it: ``pending`` until a sync reports, so
    nothing looks synced when nothing was imported."""
    views = []
    for kind in synced_kinds(account):
        doc = reported.get(kind)
        if doc is None:
            views.append(SyncStatusView(kind=kind, state="pending"))
            continue
        views.append(
            SyncStatusView(
                kind=kind,
                state=str(doc["state"]),
                done=int(doc.get("done") or 0),
                total=doc.get("total"),
                started_at=doc.get("started_at"),
                last_sync_at=doc.get("last_sync_at"),
                reason=doc.get("reason"),
                remedy=doc.get("remedy"),
                at=doc.get("at"),
                push=PushView.model_validate(doc["push"]) if doc.get("push") else None,
            )
        )
    return views
