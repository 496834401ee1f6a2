"""``fetcher idle``: push for IMAP mailboxes. One IDLE watch per connected mailbox.

A watch that sees new mail in the INBOX or the Sent folder queues a
``SyncRequested(reason="push")`` for its account; the worker runs the job as any other.
The set of watches follows the config projection (accounts connected, changed or
disconnected). Polling by the scheduler stays.
"""

import asyncio
import contextlib
import logging
from functools import partial

from crm_runtime.bus import publish
from crm_runtime.secrets import secret_box
from crm_runtime.service import Runtime, build_app, build_runtime, follow_config
from crm_schemas.config import AccountConfigured
from crm_schemas.sync import SyncKind, SyncRequested
from fetcher.adapters.imap_idle import watch_mailbox
from fetcher.adapters.passwords import SealedPasswords
from fetcher.domain.problems import SyncProblem
from fetcher.settings import FetcherSettings

log = logging.getLogger(__name__)
RESCAN_S = 30.0


async def push_request(runtime: Runtime, account: AccountConfigured) -> None:
    """Queue a mail sync for an account whose INBOX or Sent folder just got new mail."""
    request = SyncRequested(
        account_id=account.account_id,
        workspace_id=account.workspace_id,
        kind=SyncKind.MAIL,
        reason="push",
    )
    await publish(runtime.broker, runtime.topics.sync_requests, account.account_id, request)
    log.info("push sync queued", extra={"account_id": account.account_id})


class Watches:
    """The running IDLE watches, one per mailbox, kept in line with the config."""

    def __init__(self, runtime: Runtime, settings: FetcherSettings) -> None:
        self._runtime = runtime
        self._settings = settings
        self._passwords = SealedPasswords(secret_box(settings))
        self._tasks: dict[str, tuple[AccountConfigured, asyncio.Task[None]]] = {}

    async def rescan(self) -> None:
        """Start watches for new mailboxes, restart changed ones, stop removed ones."""
        wanted = {
            a.account_id: a
            for a in await self._runtime.config.accounts()
            if a.imap is not None and not a.disconnected
        }
        for account_id, (account, task) in list(self._tasks.items()):
            if wanted.get(account_id) != account:
                task.cancel()
                del self._tasks[account_id]
        for account_id, account in wanted.items():
            if account_id not in self._tasks:
                self._tasks[account_id] = (account, self._start(account))

    def _start(self, account: AccountConfigured) -> asyncio.Task[None]:
        assert account.imap is not None
        try:
            password = self._passwords(account.imap.password_encrypted, "IMAP")
        except SyncProblem:
            return asyncio.create_task(asyncio.sleep(0))
        watch = watch_mailbox(
            account.imap,
            password,
            account.mail,
            partial(push_request, self._runtime, account),
            timeout_s=self._settings.connect_timeout_s,
            egress=self._settings.egress,
        )
        return asyncio.create_task(watch)

    async def stop(self) -> None:
        """Cancel every watch."""
        for _, task in self._tasks.values():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()


def run_idle(settings: FetcherSettings) -> None:
    """Run the IDLE watches until SIGINT or SIGTERM."""
    runtime = build_runtime("fetcher.idle", settings)
    follow_config(runtime)
    app = build_app(runtime)
    watches = Watches(runtime, settings)
    tasks: list[asyncio.Task[None]] = []

    async def keep_in_line() -> None:
        while True:
            await watches.rescan()
            await asyncio.sleep(RESCAN_S)

    @app.after_startup
    async def start() -> None:
        tasks.append(asyncio.create_task(keep_in_line()))

    @app.on_shutdown
    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await watches.stop()

    asyncio.run(app.run())
