"""Request and response bodies of the connected-accounts API.

Passwords come in as write-only fields and never go out: a view of an account says which
protocols are set up and how, never a password or a token, sealed or not.
"""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, model_validator

from crm_schemas.config import (
    AccountConfigured,
    CalendarVisibility,
    ContactCreation,
    MailVisibility,
    OAuthProvider,
    TlsMode,
)
from crm_schemas.sync import SyncKind
from timeline_api.api.record_models import Email
from timeline_api.domain.connection import Check

Host = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=253, pattern=r"^\S+$")
]
Login = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
Folder = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Entry = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
Port = Annotated[int, Field(ge=1, le=65535)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImapIn(_Body):
    """Where to read mail: an IMAP server and a login."""

    host: Host
    port: Port = 993
    tls: TlsMode = TlsMode.SSL
    username: Login
    password: SecretStr = Field(min_length=1)


class SmtpIn(_Body):
    """Where the owner sends from; the login defaults to the IMAP one."""

    host: Host
    port: Port = 587
    tls: TlsMode = TlsMode.STARTTLS
    username: Login | None = None
    password: SecretStr | None = None


class CalDavIn(_Body):
    """Where to read calendars; the login defaults to the IMAP one."""

    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=2000)]
    username: Login | None = None
    password: SecretStr | None = None


class MailSettingsIn(_Body):
    """A mailbox's settings; on a change, only the fields given are replaced."""

    visibility: MailVisibility | None = None
    contact_creation: ContactCreation | None = None
    include_folders: list[Folder] | None = None
    exclude_folders: list[Folder] | None = None
    blocklist: list[Entry] | None = Field(
        default=None, description="Addresses (x@y.com) and whole domains (y.com or @y.com)."
    )


class CalendarSettingsIn(_Body):
    """A calendar's settings; on a change, only the fields given are replaced."""

    visibility: CalendarVisibility | None = None
    contact_creation: bool | None = None
    calendars: list[Annotated[str, StringConstraints(min_length=1, max_length=2000)]] | None = None


class AccountCreate(_Body):
    """An IMAP mailbox (with SMTP) and/or CalDAV calendars to connect."""

    email: Email
    aliases: list[Email] = Field(default_factory=list)
    imap: ImapIn | None = None
    smtp: SmtpIn | None = None
    caldav: CalDavIn | None = None
    mail: MailSettingsIn = Field(default_factory=MailSettingsIn)
    calendar: CalendarSettingsIn = Field(default_factory=CalendarSettingsIn)

    @model_validator(mode="after")
    def _something_to_sync(self) -> "AccountCreate":
        if self.imap is None and self.caldav is None:
            raise ValueError("give imap, caldav or both: there is nothing to sync otherwise")
        if self.imap is None and (
            (self.caldav and self.caldav.password is None) or self.smtp is not None
        ):
            raise ValueError("without imap, caldav needs its own username and password")
        return self


class AccountUpdate(_Body):
    """Settings to change, and credentials to replace (each is tested before it is kept)."""

    aliases: list[Email] | None = None
    imap: ImapIn | None = None
    smtp: SmtpIn | None = None
    caldav: CalDavIn | None = None
    mail: MailSettingsIn | None = None
    calendar: CalendarSettingsIn | None = None


class ConnectionTest(BaseModel):
    """The outcome of 'test the connection': one check per protocol given."""

    ok: bool
    checks: list[Check]


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


class OAuthStart(_Body):
    """Start connecting a Google or Microsoft account."""

    redirect_uri: Annotated[str, StringConstraints(min_length=8, max_length=2000)] | None = None


class OAuthStarted(BaseModel):
    """Send the user to ``consent_url``; the provider sends them back to the callback."""

    provider: OAuthProvider
    consent_url: str
    state: str
