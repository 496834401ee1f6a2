"""Connected accounts, as a member acts on them: test, connect, change, sync, disconnect.

The API's routes and the web app's pages both call these, so who may do what, what is
tested first, what a change applies to and what a disconnection does are decided once.
Refusals are errors the callers turn into answers: ``NotFoundError`` (also for another
workspace's account), ``ForbiddenError``, ``ConflictError`` (also a change asked to apply
to a history the raw topics no longer hold), and ``ChecksFailedError`` with every check.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from crm_schemas.base import utcnow
from crm_schemas.config import AccountConfigured
from timeline_api.domain.access import Member
from timeline_api.domain.connection import Check
from timeline_api.domain.ownership import ConflictError, NotFoundError, RecordError
from timeline_api.domain.replay import ReplayKind, ReplayScope, kinds_for_account_change
from timeline_api.ports.accounts import Directory
from timeline_api.service.account_requests import AccountCreate, AccountUpdate
from timeline_api.service.account_status import SyncStatusView, status_views
from timeline_api.service.accounts import Connector, Credentials, SyncQueue
from timeline_api.service.replay import ReplayRefusedError, Replays


class ForbiddenError(RecordError):
    """The member may not do this to this account (403)."""


class ChecksFailedError(RecordError):
    """A protocol's check failed, so nothing was saved; ``checks`` has every check."""

    def __init__(self, checks: list[Check]) -> None:
        failed = [c for c in checks if not c.ok]
        super().__init__(
            "; ".join(f"{c.protocol}: {c.message}" for c in failed) + ". Nothing was saved."
        )
        self.checks = checks


@dataclass(frozen=True, slots=True)
class AccountState:
    """An account and where each kind of its sync stands; after a change applied to
    history, the replay job that applies it."""

    account: AccountConfigured
    status: list[SyncStatusView]
    replay_job: str | None = None


def history_kinds(body: AccountUpdate) -> tuple[ReplayKind, ...]:
    """What of the account's history a change asks to reprocess: nothing without
    ``apply_to_history`` or without a setting a replay applies."""
    if not body.apply_to_history:
        return ()
    return kinds_for_account_change(
        body.mail.model_dump(exclude_none=True) if body.mail else (),
        body.calendar.model_dump(exclude_none=True) if body.calendar else (),
        aliases=body.aliases is not None,
    )


class AccountActions:
    """What members do with connected accounts, over the directory, the checks, the sync
    queue and the replay jobs."""

    def __init__(
        self, directory: Directory, connector: Connector, queue: SyncQueue, replays: Replays
    ) -> None:
        self._directory = directory
        self._connector = connector
        self._queue = queue
        self._replays = replays

    async def state(self, account: AccountConfigured) -> AccountState:
        """The account with its sync status per kind."""
        reported = await self._directory.statuses(account.account_id)
        return AccountState(account, status_views(account, reported))

    async def account(self, account_id: str, viewer: Member) -> AccountConfigured:
        """A connected account of the viewer's workspace, else ``NotFoundError``."""
        account = await self._directory.account(account_id)
        if account is None or account.workspace_id != viewer.workspace_id or account.disconnected:
            raise NotFoundError(f"no account with id {account_id}")
        return account

    async def accounts(self, viewer: Member) -> list[AccountState]:
        """Every connected account of the viewer's workspace, with its status."""
        found = await self._directory.workspace_accounts(viewer.workspace_id)
        return [await self.state(a) for a in found]

    async def test(self, body: AccountCreate) -> list[Check]:
        """Test the connection: each protocol given, separately; nothing is stored."""
        creds = self._connector.credentials(body)
        return await self._connector.check(creds, body.mail.include_folders or ())

    async def connect(self, body: AccountCreate, viewer: Member) -> AccountState:
        """Connect once every protocol's check passes, owned by the viewer; the first
        import starts at once."""
        creds = self._connector.credentials(body)
        await self._tested(creds, body.mail.include_folders or ())
        account = self._connector.new_account(body, viewer)
        existing = await self._directory.account(account.account_id)
        if existing is not None and not existing.disconnected:
            raise ConflictError(f"{account.email} is connected already: change that account")
        await self._directory.save_account(account)
        await self._queue.sync_now(account)
        return await self.state(account)

    async def update(self, account_id: str, body: AccountUpdate, viewer: Member) -> AccountState:
        """Change settings or credentials (the owner only); new credentials and a new
        folder selection are tested first. It applies to what is processed from now on,
        and with ``apply_to_history`` to what the account synced before: a replay job of
        its items, queued once the change is saved (docs/replay.md). A history the raw
        topics no longer hold is refused before anything is saved."""
        account = await self.account(account_id, viewer)
        if account.owner_member_id != viewer.member_id:
            raise ForbiddenError("only the owner of an account may change it")
        kinds = history_kinds(body)
        if kinds:
            await self._history_held(kinds)
        folders = (body.mail.include_folders if body.mail else None) or account.mail.include_folders
        await self._tested(self._connector.stored_credentials(account, body), folders)
        changed = self._connector.changed_account(account, body)
        await self._directory.save_account(changed)
        if body.imap or body.caldav:  # new credentials: a failing account gets going again now
            await self._queue.sync_now(changed)
        state = await self.state(changed)
        if not kinds:
            return state
        scope = ReplayScope(changed.workspace_id, changed.account_id)
        try:
            job = await self._replays.request(scope, kinds, None, viewer.member_id)
        except ReplayRefusedError as refused:
            raise ConflictError(f"{refused} The change was saved for what comes next.") from None
        return AccountState(state.account, state.status, job.job_id)

    async def sync_now(self, account_id: str, viewer: Member) -> None:
        """Queue a sync of the account now, instead of at the next scheduled one."""
        await self._queue.sync_now(await self.account(account_id, viewer))

    async def disconnect(self, account_id: str, viewer: Member) -> None:
        """Disconnect (the owner or an admin): its sync stops, and what only it brought
        leaves the timelines; what another account also brought stays."""
        account = await self.account(account_id, viewer)
        if account.owner_member_id != viewer.member_id and not viewer.is_admin:
            raise ForbiddenError("only the owner of an account or an admin may disconnect it")
        gone = account.model_copy(
            update={
                "disconnected": True,
                "imap": None,
                "smtp": None,
                "caldav": None,
                "oauth": None,
                "updated_at": utcnow(),
            }
        )
        await self._directory.save_account(gone)

    async def folders(self, account_id: str, viewer: Member) -> list[str]:
        """The folders the account's IMAP server lists (empty without IMAP)."""
        account = await self.account(account_id, viewer)
        return await self._connector.folders(account)

    async def _history_held(self, kinds: tuple[ReplayKind, ...]) -> None:
        """``ConflictError`` when the raw topics no longer hold the history to replay."""
        try:
            await self._replays.check(kinds, None)
        except ReplayRefusedError as refused:
            raise ConflictError(f"{refused} Nothing was saved.") from None

    async def _tested(self, creds: Credentials, folders: Sequence[str]) -> None:
        checks = await self._connector.check(creds, folders)
        if not all(c.ok for c in checks):
            raise ChecksFailedError(checks)
