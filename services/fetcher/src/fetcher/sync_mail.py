"""One bounded mail sync job: new messages of each synced folder, published, then cursored.

A folder's first import goes newest first (highest UID down, so recent conversations
arrive first); after it, new mail comes in by UID. At least once, by construction: a
batch's cursor is saved only after every message of the batch is durably published, so
a crash repeats at most one batch; downstream ids depend on the Message-ID only, so a
repeat duplicates nothing.
"""

import logging
from dataclasses import dataclass, field, replace

from crm_schemas.config import AccountConfigured, MailVisibility
from crm_schemas.mail import FolderRole
from crm_schemas.sync import SyncKind
from crm_schemas.topics import Topics
from fetcher.domain.folders import decode_folder_name, folders_to_sync
from fetcher.domain.mime import MessageSource
from fetcher.domain.model import FetchedMessage, Folder, FolderCursor
from fetcher.domain.problems import SyncProblem
from fetcher.domain.unreadable import read_message
from fetcher.ports import CursorStore, Mailbox, MailboxOpener, PasswordReader, Publisher
from fetcher.publishing import message_records
from fetcher.settings import FetcherSettings
from fetcher.status import StatusReporter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MailPorts:
    """What a mail job talks to."""

    settings: FetcherSettings
    open_mailbox: MailboxOpener
    cursors: CursorStore
    publish: Publisher
    password: PasswordReader

    @property
    def topics(self) -> Topics:
        """Topic names of this deployment."""
        return self.settings.topics


@dataclass(slots=True)
class FolderPlan:
    """A folder's pending work, found at the start of the job: new mail above the
    cursor (ascending), then the first import's older mail below it (descending)."""

    folder: Folder
    role: FolderRole
    cursor: FolderCursor
    newer: list[int]
    older: list[int] = field(default_factory=list)
    highestmodseq: int = 0  # as EXAMINE reported it when the job planned the folder

    @property
    def pending(self) -> int:
        """How many messages remain."""
        return len(self.newer) + len(self.older)


@dataclass(slots=True)
class MailJobResult:
    """What one job did: published messages, unreadable ones dropped, whether work
    remains."""

    published: int = 0
    unreadable: int = 0
    done: int = 0
    total: int = 0
    more: bool = False
    failed: SyncProblem | None = None
    plans: list[FolderPlan] = field(default_factory=list)


async def run_mail_job(account: AccountConfigured, ports: MailPorts) -> MailJobResult:
    """Import what is new in an account's mailbox, at most ``max_messages_per_job`` of it.

    When more remains, a continuation job is queued for the same account before returning.
    A problem reaching the mailbox (password, TLS, DNS) becomes a ``failing`` status.
    """
    assert account.imap is not None
    status = StatusReporter(account, SyncKind.MAIL, ports.topics, ports.publish)
    result = MailJobResult()
    try:
        password = ports.password(account.imap.password_encrypted, "IMAP")
        async with ports.open_mailbox(account.imap, password) as mailbox:
            await _run(account, mailbox, ports, status, result)
    except SyncProblem as problem:
        log.warning(
            "mailbox unreachable",
            extra={"account_id": account.account_id, "problem": problem.kind},
        )
        await status.failing(problem)
        result.failed = problem
        return result
    if result.more:
        await status.continue_later()
        await status.importing(result.done, result.total)
    else:
        await status.up_to_date(result.done, result.total)
    return result


async def _run(
    account: AccountConfigured,
    mailbox: Mailbox,
    ports: MailPorts,
    status: StatusReporter,
    result: MailJobResult,
) -> None:
    chosen = folders_to_sync(await mailbox.folders(), account.mail)
    for folder, role in chosen:
        result.plans.append(await _plan(account, mailbox, ports.cursors, folder, role))
    result.done = sum(plan.cursor.done for plan in result.plans)
    result.total = result.done + sum(plan.pending for plan in result.plans)
    budget = ports.settings.max_messages_per_job
    for plan in result.plans:
        if plan.pending and budget <= 0:
            result.more = True
            return
        if plan.pending:
            budget -= await _import_folder(account, mailbox, ports, status, plan, budget, result)
        if not plan.pending:
            await _remember_synced(account, ports, plan)


async def _remember_synced(account: AccountConfigured, ports: MailPorts, plan: FolderPlan) -> None:
    """Keep the HIGHESTMODSEQ of a folder now fully synced, so the next job can skip it
    while nothing changes in it (mail arriving after EXAMINE raised it: searched again)."""
    if plan.highestmodseq and plan.highestmodseq != plan.cursor.highestmodseq:
        plan.cursor = replace(plan.cursor, highestmodseq=plan.highestmodseq)
        await ports.cursors.save(account.account_id, plan.folder.name, plan.cursor)


async def _plan(
    account: AccountConfigured,
    mailbox: Mailbox,
    cursors: CursorStore,
    folder: Folder,
    role: FolderRole,
) -> FolderPlan:
    state = await mailbox.examine(folder.name)
    cursor = await cursors.load(account.account_id, folder.name)
    if cursor is None or cursor.uidvalidity != state.uidvalidity:
        # A first import, or a new UIDVALIDITY (every UID changed meaning: start the folder
        # over; ids downstream come from Message-IDs, so re-publishing duplicates nothing).
        everything = await mailbox.uids_after(0)
        top = max(everything, default=0)
        cursor = FolderCursor(uidvalidity=state.uidvalidity, last_uid=top, backfill_below=top + 1)
        return FolderPlan(folder, role, cursor, [], everything[::-1], state.highestmodseq)
    if cursor.unchanged(state):
        return FolderPlan(folder, role, cursor, newer=[], highestmodseq=state.highestmodseq)
    newer = await mailbox.uids_after(cursor.last_uid)
    older = await mailbox.uids_before(cursor.backfill_below) if cursor.backfill_pending else []
    return FolderPlan(folder, role, cursor, newer, older[::-1], state.highestmodseq)


async def _import_folder(
    account: AccountConfigured,
    mailbox: Mailbox,
    ports: MailPorts,
    status: StatusReporter,
    plan: FolderPlan,
    budget: int,
    result: MailJobResult,
) -> int:
    """Import up to ``budget`` of a folder's pending messages; returns how many it took."""
    state = await mailbox.examine(plan.folder.name)
    if state.uidvalidity != plan.cursor.uidvalidity:
        result.more = True  # changed under us: the next job plans the folder again
        return 0
    newer, plan.newer = plan.newer[:budget], plan.newer[budget:]
    older, plan.older = plan.older[: budget - len(newer)], plan.older[budget - len(newer) :]
    size = ports.settings.batch_size
    for part, going_up in ((newer, True), (older, False)):
        for start in range(0, len(part), size):
            batch = part[start : start + size]
            fetched = await mailbox.fetch(sorted(batch), _text_bytes(account, ports))
            unreadable = await _publish_all(account, ports, plan, fetched)
            plan.cursor = _moved(plan.cursor, batch, going_up)
            await ports.cursors.save(account.account_id, plan.folder.name, plan.cursor)
            result.published += len(fetched) - unreadable
            result.unreadable += unreadable
            result.done += len(batch)
            await status.importing(result.done, result.total)
    result.more = result.more or plan.pending > 0
    return len(newer) + len(older)


def _moved(cursor: FolderCursor, batch: list[int], going_up: bool) -> FolderCursor:
    """The cursor once ``batch`` is published: new mail moves its top edge up, the first
    import's older mail moves its bottom edge down."""
    if going_up:
        return replace(cursor, last_uid=max(batch), done=cursor.done + len(batch))
    return replace(cursor, backfill_below=min(batch), done=cursor.done + len(batch))


def _text_bytes(account: AccountConfigured, ports: MailPorts) -> int:
    """How much of each message's text to fetch: none unless the visibility shows bodies."""
    if account.mail.visibility != MailVisibility.FULL:
        return 0
    return ports.settings.body_max_bytes


async def _publish_all(
    account: AccountConfigured,
    ports: MailPorts,
    plan: FolderPlan,
    fetched: list[FetchedMessage],
) -> int:
    """Publish a batch: each message on mail.raw, or, when it cannot be read or cannot
    travel, its unreadable drop; returns how many were dropped. Never fails for what a
    message holds."""
    source = MessageSource(
        workspace_id=account.workspace_id,
        account_id=account.account_id,
        folder=decode_folder_name(plan.folder.name),
        folder_role=plan.role,
        uidvalidity=plan.cursor.uidvalidity,
        include_content=account.mail.visibility == MailVisibility.FULL,
        body_max_bytes=ports.settings.body_max_bytes,
    )
    records, unreadable = message_records((read_message(f, source) for f in fetched), ports.topics)
    await ports.publish.many(records)
    return unreadable
