"""Push for IMAP mailboxes, held by the worker that owns each account.

Sync requests are keyed by account id, so each fetcher worker owns the accounts of its
partitions of the sync-requests topic (its provider rate limits live there too). The
same worker keeps those accounts' IMAP IDLE watches (one connection per watched folder):
the connections spread over the replicas with the accounts, and a rebalance moves them
with the partitions. A watch that sees new mail queues a ``SyncRequested(reason="push")``;
the scheduler's polling stays the fallback. The watches follow the config projection
(accounts connected, changed or disconnected) and the group's assignment.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from functools import partial

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import murmur2

from crm_runtime.bus import publish
from crm_runtime.secrets import secret_box
from crm_runtime.service import Runtime
from crm_schemas.config import AccountConfigured
from crm_schemas.sync import SyncKind, SyncRequested
from fetcher.adapters.imap_idle import watch_mailbox
from fetcher.adapters.passwords import SealedPasswords
from fetcher.domain.problems import SyncProblem
from fetcher.settings import FetcherSettings

log = logging.getLogger(__name__)
RESCAN_S = 30.0
SETTLE_S = 0.5  # a burst of config changes (a first start reads them all) makes one rescan


def partition_of(account_id: str, partitions: int) -> int:
    """The partition an account's sync requests go to: Kafka's default partitioner
    (murmur2 of the key, as the Java client and aiokafka compute it)."""
    return int((murmur2(account_id.encode()) & 0x7FFFFFFF) % partitions)


def owned_accounts(
    accounts: Iterable[AccountConfigured], owned: set[int], partitions: int
) -> dict[str, AccountConfigured]:
    """The IMAP accounts, still connected, whose requests fall on an owned partition."""
    return {
        a.account_id: a
        for a in accounts
        if a.imap is not None
        and not a.disconnected
        and partitions > 0
        and partition_of(a.account_id, partitions) in owned
    }


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
    """The running IDLE watches of the accounts this worker owns, kept in line with the
    config and the group's assignment."""

    def __init__(self, runtime: Runtime, settings: FetcherSettings) -> None:
        self._runtime = runtime
        self._settings = settings
        self._passwords = SealedPasswords(secret_box(settings))
        self._tasks: dict[str, tuple[AccountConfigured, asyncio.Task[None]]] = {}
        self._owned: set[int] = set()
        self._partitions = 0
        self._running = False
        self._loop: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()

    @property
    def watched(self) -> set[str]:
        """The accounts watched now."""
        return set(self._tasks)

    async def start(self) -> None:
        """Keep the watches in line until ``stop``: every RESCAN_S, at each rebalance, and
        soon after an account's config changes (``changed``)."""
        self._running = True
        self._loop = asyncio.create_task(self._every(RESCAN_S))

    async def follow(self, assigned: set[TopicPartition]) -> None:
        """The sync-requests partitions this worker owns now (none during a rebalance)."""
        topic = self._settings.topics.sync_requests
        self._owned = {tp.partition for tp in assigned if tp.topic == topic}
        if self._owned:
            self._partitions = await self._count(topic)
        if self._running:
            await self.rescan()

    def changed(self) -> None:
        """An account was connected, changed or disconnected: rescan now rather than at
        the next RESCAN_S, so a new mailbox is pushed from its first minute."""
        self._changed.set()

    async def rescan(self) -> None:
        """Start the watches of newly owned or connected accounts, restart changed ones,
        stop the rest."""
        async with self._lock:
            accounts = await self._runtime.config.accounts() if self._owned else []
            wanted = owned_accounts(accounts, self._owned, self._partitions)
            gone = [a for a, (account, _) in self._tasks.items() if wanted.get(a) != account]
            await asyncio.gather(*(_cancel(self._tasks.pop(a)[1]) for a in gone))
            for account_id, account in wanted.items():
                if account_id not in self._tasks:
                    self._tasks[account_id] = (account, self._start(account))
            watching = {"partitions": sorted(self._owned), "watched": sorted(self._tasks)}
            log.info("IDLE watches", extra=watching)

    async def stop(self) -> None:
        """Cancel every watch (the process is stopping)."""
        self._running = False
        if self._loop is not None:
            await _cancel(self._loop)
        async with self._lock:
            await asyncio.gather(*(_cancel(task) for _, task in self._tasks.values()))
            self._tasks.clear()

    async def _every(self, interval_s: float) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), interval_s)
                await asyncio.sleep(SETTLE_S)
            self._changed.clear()
            await self.rescan()

    async def _count(self, topic: str) -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._settings.kafka_bootstrap)
        await admin.start()
        try:
            (described,) = await admin.describe_topics([topic])
            return len(described["partitions"])
        finally:
            await admin.close()

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


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
