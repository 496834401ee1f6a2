"""One bounded mail sync job for a Google or Microsoft account, through its API provider.

The same at-least-once shape as the IMAP job: items are published, and only then is the
cursor saved, after every fetched chunk (with the offset inside the page) and at the end
of each page. A stop anywhere (throttling that outlasts every retry, a crash, an expired
access token that cannot be renewed) resumes at the first item not yet published.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import dataclass
from typing import Protocol

from crm_schemas.config import AccountConfigured
from crm_schemas.mail import RawMessage
from crm_schemas.sync import SyncKind
from crm_schemas.topics import Topics
from fetcher.domain.problems import SyncProblem
from fetcher.ports import Publisher
from fetcher.providers.base import (
    ChangePage,
    CursorExpired,
    MailProvider,
    ProviderCursor,
    Throttled,
)
from fetcher.settings import FetcherSettings
from fetcher.status import StatusReporter

log = logging.getLogger(__name__)

FETCH_AHEAD = 2
"""Chunks fetched ahead of the one being published (each a batch request or a few)."""

ProviderOpener = Callable[[AccountConfigured], AbstractAsyncContextManager[MailProvider]]


class ProviderCursorStore(Protocol):
    """Where each provider stream's sync stands."""

    async def load(self, account_id: str, stream: str) -> ProviderCursor | None: ...

    async def save(self, account_id: str, stream: str, cursor: ProviderCursor) -> None: ...


@dataclass(frozen=True, slots=True)
class OAuthMailPorts:
    """What an API mail job talks to."""

    settings: FetcherSettings
    open_provider: ProviderOpener
    cursors: ProviderCursorStore
    publish: Publisher

    @property
    def topics(self) -> Topics:
        """Topic names of this deployment."""
        return self.settings.topics


@dataclass(slots=True)
class OAuthJobResult:
    """What one job did."""

    published: int = 0
    done: int = 0
    more: bool = False
    throttled: bool = False
    resyncs: int = 0
    failed: SyncProblem | None = None


async def run_oauth_mail_job(account: AccountConfigured, ports: OAuthMailPorts) -> OAuthJobResult:
    """Import what is new in a Google or Microsoft mailbox, about ``max_messages_per_job``.

    More work, or throttling that outlasted the retries, queues a continuation job; a
    refused consent or an unreachable provider becomes a ``failing`` status and stops.
    """
    status = StatusReporter(account, SyncKind.MAIL, ports.topics, ports.publish)
    result = OAuthJobResult()
    try:
        async with ports.open_provider(account) as provider:
            budget = ports.settings.max_messages_per_job
            for stream in provider.streams():
                budget = await _sync_stream(account, provider, stream, ports, result, budget)
    except SyncProblem as problem:
        log.warning(
            "account unreachable",
            extra={"account_id": account.account_id, "problem": problem.kind},
        )
        await status.failing(problem)
        result.failed = problem
        return result
    except Throttled:
        log.info("provider throttling: continuing later", extra={"account_id": account.account_id})
        result.throttled = result.more = True
    if result.more:
        await status.continue_later()
        await status.importing(result.done, None)
    else:
        await status.up_to_date(result.done, result.done)
    return result


async def _sync_stream(
    account: AccountConfigured,
    provider: MailProvider,
    stream: str,
    ports: OAuthMailPorts,
    result: OAuthJobResult,
    budget: int,
) -> int:
    cursor = await ports.cursors.load(account.account_id, stream) or ProviderCursor()
    before = result.done
    while True:
        if budget <= 0:
            result.more = True
            return budget
        try:
            page = await provider.changes(stream, cursor)
        except CursorExpired as expired:
            # Start over: downstream ids come from Message-IDs, so nothing is duplicated.
            log.info(
                "cursor expired: full resync",
                extra={"account_id": account.account_id, "stream": stream, "error": str(expired)},
            )
            result.resyncs += 1
            cursor = ProviderCursor()
            await ports.cursors.save(account.account_id, stream, cursor)
            continue
        cursor = await _publish_page(account, provider, stream, ports, cursor, page, result)
        budget -= len(page.refs)
        result.done = before + cursor.done  # every stream's items, this one's so far
        if not page.more:
            return budget


async def _publish_page(
    account: AccountConfigured,
    provider: MailProvider,
    stream: str,
    ports: OAuthMailPorts,
    cursor: ProviderCursor,
    page: ChangePage,
    result: OAuthJobResult,
) -> ProviderCursor:
    """Publish a page's items chunk by chunk; returns the cursor saved after it.

    ``FETCH_AHEAD`` chunks are fetched while the current one is published and its cursor
    saved, so the provider's quota, not the round trip of one batch, sets the pace (the
    limiters still pace every request). The cursor moves only past chunks that are
    published, in order: a crash repeats at most the chunks in flight.
    """
    done = cursor.done
    size = provider.fetch_size
    chunks = [page.refs[o : o + size] for o in range(cursor.offset, len(page.refs), size)]
    topic = ports.topics.mail_raw
    pending = iter(chunks)
    ahead: deque[asyncio.Task[list[RawMessage]]] = deque()

    def fetch_next() -> None:
        chunk = next(pending, None)
        if chunk is not None:
            ahead.append(asyncio.create_task(provider.fetch(stream, chunk)))

    offset = cursor.offset
    try:
        for _ in range(FETCH_AHEAD + 1):
            fetch_next()
        for chunk in chunks:
            messages = await ahead.popleft()
            fetch_next()
            await asyncio.gather(*(ports.publish(topic, m.item_id, m) for m in messages))
            result.published += len(messages)
            offset, done = offset + len(chunk), done + len(chunk)
            if offset < len(page.refs):
                await ports.cursors.save(account.account_id, stream, cursor.at(offset, done))
    finally:
        for task in ahead:
            task.cancel()
        for task in ahead:
            with suppress(asyncio.CancelledError):
                await task
    after = page.cursor.at(0, done)
    await ports.cursors.save(account.account_id, stream, after)
    return after
