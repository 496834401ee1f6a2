"""Connecting accounts: test every protocol, seal the passwords, store and announce; and
asking for a sync.

Nothing is stored when a check fails. Passwords are sealed with the secrets key the moment
they are accepted; the fetcher opens them with the same key. A change of settings applies
to everything the pipeline processes after it (the config topic carries it everywhere).
"""

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

from pydantic import SecretStr

from crm_runtime.secrets import SecretBox
from crm_schemas.base import utcnow
from crm_schemas.config import (
    AccountConfigured,
    CalDavConnection,
    CalendarSettings,
    ImapConnection,
    MailSettings,
    SmtpConnection,
)
from crm_schemas.ids import normalize_email
from crm_schemas.sync import SyncKind, SyncRequested
from timeline_api.domain.access import Member, account_id_for
from timeline_api.domain.connection import Check
from timeline_api.ports.accounts import ConnectionChecker
from timeline_api.ports.common import Publish
from timeline_api.service.account_requests import (
    AccountCreate,
    AccountUpdate,
    CalDavIn,
    CalendarSettingsIn,
    ImapIn,
    MailSettingsIn,
    SmtpIn,
)


@dataclass(frozen=True, slots=True)
class Credentials:
    """The logins of an account, in the clear, only for as long as a check runs."""

    imap: tuple[ImapIn, SecretStr] | None
    smtp: tuple[SmtpIn, str, SecretStr] | None
    caldav: tuple[CalDavIn, str, SecretStr] | None


class Connector:
    """Tests and connects accounts; the checker follows the deployment's host policy."""

    def __init__(self, box: SecretBox, checker: ConnectionChecker) -> None:
        self._box = box
        self._checker = checker

    # --- checks -------------------------------------------------------------------------

    async def check(self, creds: Credentials, folders: Sequence[str] = ()) -> list[Check]:
        """Check each protocol given, at once; the answers in the order IMAP, SMTP, CalDAV."""
        checker = self._checker
        checks: list[Awaitable[Check]] = []
        if creds.imap is not None:
            imap, password = creds.imap
            checks.append(
                checker.imap(imap.host, imap.port, imap.tls, imap.username, password, folders)
            )
        if creds.smtp is not None:
            smtp, user, password = creds.smtp
            checks.append(checker.smtp(smtp.host, smtp.port, smtp.tls, user, password))
        if creds.caldav is not None:
            caldav, user, password = creds.caldav
            checks.append(checker.caldav(caldav.url, user, password))
        return list(await asyncio.gather(*checks))

    def credentials(self, body: AccountCreate | AccountUpdate) -> Credentials:
        """The logins a create or an update brings; SMTP and CalDAV default to the IMAP one."""
        imap = (body.imap, body.imap.password) if body.imap else None
        default_user = body.imap.username if body.imap else None
        default_password = body.imap.password if body.imap else None
        smtp = None
        if body.smtp is not None:
            user = body.smtp.username or default_user or ""
            smtp = (body.smtp, user, body.smtp.password or default_password or SecretStr(""))
        caldav = None
        if body.caldav is not None:
            user = body.caldav.username or default_user or ""
            caldav = (body.caldav, user, body.caldav.password or default_password or SecretStr(""))
        return Credentials(imap=imap, smtp=smtp, caldav=caldav)

    def stored_credentials(self, account: AccountConfigured, body: AccountUpdate) -> Credentials:
        """The logins to check for an update: the new ones, else the stored IMAP one when
        the folder selection changed (each chosen folder must exist)."""
        creds = self.credentials(body)
        folders_changed = body.mail is not None and body.mail.include_folders is not None
        if creds.imap is None and folders_changed and account.imap is not None:
            stored = account.imap
            imap = ImapIn(
                host=stored.host,
                port=stored.port,
                tls=stored.tls,
                username=stored.username,
                password=self._box.open(stored.password_encrypted),
            )
            creds = Credentials(imap=(imap, imap.password), smtp=creds.smtp, caldav=creds.caldav)
        return creds

    async def folders(self, account: AccountConfigured) -> list[str]:
        """The folders the account's IMAP server lists (none without IMAP)."""
        stored = account.imap
        if stored is None:
            return []
        password = self._box.open(stored.password_encrypted)
        return await self._checker.folders(
            stored.host, stored.port, stored.tls, stored.username, password
        )

    # --- building the account ---------------------------------------------------------

    def new_account(self, body: AccountCreate, owner: Member) -> AccountConfigured:
        """The account a create asks for, passwords sealed, owned by the member asking."""
        creds = self.credentials(body)
        address = normalize_email(body.email)
        return AccountConfigured(
            account_id=account_id_for(owner.workspace_id, address),
            workspace_id=owner.workspace_id,
            owner_member_id=owner.member_id,
            email=address,
            aliases=tuple(dict.fromkeys(normalize_email(a) for a in body.aliases)),
            imap=self._imap(creds),
            smtp=self._smtp(creds),
            caldav=self._caldav(creds),
            mail=apply_mail(MailSettings(), body.mail),
            calendar=apply_calendar(CalendarSettings(), body.calendar),
        )

    def changed_account(self, account: AccountConfigured, body: AccountUpdate) -> AccountConfigured:
        """The account with an update applied; what the update leaves out stays."""
        creds = self.credentials(body)
        changes: dict[str, object] = {"updated_at": utcnow()}
        if body.aliases is not None:
            changes["aliases"] = tuple(dict.fromkeys(normalize_email(a) for a in body.aliases))
        if creds.imap is not None:
            changes["imap"] = self._imap(creds)
        if creds.smtp is not None:
            changes["smtp"] = self._smtp(creds)
        if creds.caldav is not None:
            changes["caldav"] = self._caldav(creds)
        if body.mail is not None:
            changes["mail"] = apply_mail(account.mail, body.mail)
        if body.calendar is not None:
            changes["calendar"] = apply_calendar(account.calendar, body.calendar)
        return account.model_copy(update=changes)

    def _imap(self, creds: Credentials) -> ImapConnection | None:
        if creds.imap is None:
            return None
        imap, password = creds.imap
        return ImapConnection(
            host=imap.host,
            port=imap.port,
            tls=imap.tls,
            username=imap.username,
            password_encrypted=self._box.seal(password.get_secret_value()),
        )

    def _smtp(self, creds: Credentials) -> SmtpConnection | None:
        if creds.smtp is None:
            return None
        smtp, user, password = creds.smtp
        return SmtpConnection(
            host=smtp.host,
            port=smtp.port,
            tls=smtp.tls,
            username=user,
            password_encrypted=self._box.seal(password.get_secret_value()),
        )

    def _caldav(self, creds: Credentials) -> CalDavConnection | None:
        if creds.caldav is None:
            return None
        caldav, user, password = creds.caldav
        return CalDavConnection(
            url=caldav.url,
            username=user,
            password_encrypted=self._box.seal(password.get_secret_value()),
        )


def apply_mail(current: MailSettings, change: MailSettingsIn) -> MailSettings:
    """Mail settings with the given fields replaced; blocklist entries lower-cased."""
    fields = change.model_dump(exclude_none=True)
    if "blocklist" in fields:
        fields["blocklist"] = tuple(dict.fromkeys(e.lower() for e in fields["blocklist"]))
    for name in ("include_folders", "exclude_folders"):
        if name in fields:
            fields[name] = tuple(dict.fromkeys(fields[name]))
    return current.model_copy(update=fields)


def apply_calendar(current: CalendarSettings, change: CalendarSettingsIn) -> CalendarSettings:
    """Calendar settings with the given fields replaced."""
    fields = change.model_dump(exclude_none=True)
    if "calendars" in fields:
        fields["calendars"] = tuple(dict.fromkeys(fields["calendars"]))
    return current.model_copy(update=fields)


def synced_kinds(account: AccountConfigured) -> list[SyncKind]:
    """What the account syncs: mail through IMAP or OAuth, calendars through CalDAV or OAuth."""
    kinds = []
    if account.imap is not None or account.oauth is not None:
        kinds.append(SyncKind.MAIL)
    if account.caldav is not None or account.oauth is not None:
        kinds.append(SyncKind.CALENDAR)
    return kinds


class SyncQueue:
    """Puts sync requests on the fetcher's topic, keyed by account."""

    def __init__(self, publish: Publish) -> None:
        self._publish = publish

    async def sync_now(self, account: AccountConfigured) -> None:
        """Ask for a sync of everything the account syncs, behind what is queued for it."""
        for kind in synced_kinds(account):
            request = SyncRequested(
                account_id=account.account_id,
                workspace_id=account.workspace_id,
                kind=kind,
                reason="manual",
            )
            await self._publish(account.account_id, request)
