"""Workspaces and connected accounts, as published on the config topic.

The timeline API owns them; every other service keeps its own projection of this topic.
Passwords travel encrypted (``*_encrypted``): only a service holding the secrets key can
read them.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from crm_schemas.base import Event, utcnow


class MailVisibility(StrEnum):
    """How much of a mailbox's messages other members of the workspace may see."""

    METADATA = "metadata"
    SUBJECT = "subject"
    FULL = "full"


class CalendarVisibility(StrEnum):
    """How much of a calendar's meetings other members of the workspace may see."""

    EVERYTHING = "everything"
    METADATA = "metadata"


class ContactCreation(StrEnum):
    """Which participants of a mailbox's messages become people."""

    NONE = "none"
    SENT_AND_RECEIVED = "sent_and_received"
    SENT_ONLY = "sent_only"


class TlsMode(StrEnum):
    """How a connection to a mail server is secured."""

    NONE = "none"
    STARTTLS = "starttls"
    SSL = "ssl"


class MailSettings(Event):
    """A mailbox's settings, as its owner chose them."""

    visibility: MailVisibility = MailVisibility.SUBJECT
    contact_creation: ContactCreation = ContactCreation.SENT_ONLY
    include_folders: tuple[str, ...] = ()
    exclude_folders: tuple[str, ...] = ()
    blocklist: tuple[str, ...] = Field(
        default=(), description="Addresses and whole domains never to sync."
    )


class CalendarSettings(Event):
    """A calendar's settings, as its owner chose them."""

    visibility: CalendarVisibility = CalendarVisibility.EVERYTHING
    contact_creation: bool = True
    calendars: tuple[str, ...] = Field(
        default=(),
        description="Calendars to sync, by display name or URL; empty: all the user's own"
        " event calendars.",
    )


class ImapConnection(Event):
    """Where and how to read a mailbox over IMAP."""

    host: str
    port: int = Field(ge=1, le=65535)
    tls: TlsMode = TlsMode.SSL
    username: str
    password_encrypted: str


class SmtpConnection(Event):
    """Where the owner sends mail from; stored for the account, not used by sync."""

    host: str
    port: int = Field(ge=1, le=65535)
    tls: TlsMode = TlsMode.STARTTLS
    username: str
    password_encrypted: str


class CalDavConnection(Event):
    """Where and how to read calendars over CalDAV."""

    url: str
    username: str
    password_encrypted: str


class OAuthProvider(StrEnum):
    """A provider whose mail and calendar are read through its own API, after OAuth 2 consent."""

    GOOGLE = "google"
    MICROSOFT = "microsoft"


class OAuthConnection(Event):
    """Consent to read a Google or Microsoft account: the refresh token, encrypted.

    The access token is not kept here: it lives minutes, and each fetcher refreshes its own.
    The client id and secret are the deployment's, in the fetcher's and the API's settings.
    """

    provider: OAuthProvider
    refresh_token_encrypted: str
    scopes: tuple[str, ...] = ()
    subject: str | None = Field(
        default=None, description="The provider's stable id of the consenting user."
    )


class WorkspaceConfigured(Event):
    """A workspace was created or changed."""

    type: Literal["workspace"] = "workspace"
    schema_version: Literal[1] = 1
    workspace_id: str
    name: str
    domains: tuple[str, ...] = Field(description="The organisation's own email domains.")
    role_addresses_add: tuple[str, ...] = Field(
        default=(),
        description="Local parts treated as role or robot addresses, on top of the list.",
    )
    role_addresses_remove: tuple[str, ...] = Field(
        default=(), description="Local parts of the maintained role list treated as people."
    )
    personal_domains_add: tuple[str, ...] = Field(
        default=(), description="Domains treated as personal providers (never a company)."
    )
    personal_domains_remove: tuple[str, ...] = Field(
        default=(), description="Domains of the maintained personal list that make companies."
    )
    updated_at: datetime = Field(default_factory=utcnow)


class AccountConfigured(Event):
    """A connected account (mailbox and/or calendar) was connected, changed or removed."""

    type: Literal["account"] = "account"
    schema_version: Literal[1] = 1
    account_id: str
    workspace_id: str
    owner_member_id: str
    email: str = Field(description="The mailbox owner's address.")
    aliases: tuple[str, ...] = ()
    imap: ImapConnection | None = None
    smtp: SmtpConnection | None = None
    caldav: CalDavConnection | None = None
    oauth: OAuthConnection | None = Field(
        default=None, description="Google or Microsoft: mail and calendar through the API."
    )
    mail: MailSettings = MailSettings()
    calendar: CalendarSettings = CalendarSettings()
    disconnected: bool = False
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def owner_addresses(self) -> frozenset[str]:
        """Every address the owner sends from."""
        return frozenset(a.lower() for a in (self.email, *self.aliases))


ConfigEvent = Annotated[WorkspaceConfigured | AccountConfigured, Field(discriminator="type")]
