"""What a request to connect or change an account brings: the use cases' input.

Passwords come in as write-only fields (``SecretStr``): they are sealed the moment they
are accepted and never go out.
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, model_validator

from crm_schemas.config import CalendarVisibility, ContactCreation, MailVisibility, TlsMode
from timeline_api.domain.fields import Email

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
    apply_to_history: bool = Field(
        default=False,
        description="Also reprocess what this account synced before, under the new settings"
        " (a replay job of its mail for mail settings, of its meetings for calendar settings,"
        " of both for the blocklist; docs/replay.md).",
    )
