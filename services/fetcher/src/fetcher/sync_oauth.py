"""One bounded mail sync job for a Google or Microsoft account, through its API provider.

The same at-least-once shape as the IMAP job: items are published, and only then is the
cursor saved, after every fetched chunk (with the offset inside the page) and at the end
of each page. A stop anywhere (throttling that outlasts every retry, a crash, an expired
access token that cannot be renewed) resumes at the first item not yet published.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import dataclass, field
from itertools import islice
from typing import Protocol

from crm_schemas.config import AccountConfigured
from crm_schemas.mail import RawMessage
from crm_schemas.outcomes import ItemDropped
from crm_schemas.sync import SyncKind
from crm_schemas.topics import Topics
from fetcher.domain.problems import SyncProblem
from fetcher.ports import Publisher
from fetcher.providers.base import (
    CursorExpired,
    MailProvider,
    ProviderCursor,
    Throttled,
)
from fetcher.publishing import message_records
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
    unreadable: int = 0
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
                budget = await _Stream(account, provider, stream, ports, result).sync(budget)
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


@dataclass(slots=True)
class _Step:
    """A chunk of a listed page, and the cursor to save once it is published (a page with
    no items is a step without refs)."""

    refs: Sequence[str]
    after: ProviderCursor
    fetch: "asyncio.Task[list[RawMessage | ItemDropped]] | None" = None


@dataclass(slots=True)
class _Stream:
    """One stream's pages, listed, fetched and published as one pipeline.

    ``FETCH_AHEAD`` chunks are fetched while the current one is published, across page
    boundaries: the next page is listed while the last chunks of this one are in flight,
    so the provider's quota, not round trips, sets the pace (the limiters pace every
    request). Chunks are published in order and the cursor saved after each, so it only
    ever moves past published items: a crash repeats at most the chunks in flight.
    """

    _account: AccountConfigured
    _provider: MailProvider
    _stream: str
    _ports: OAuthMailPorts
    _result: OAuthJobResult
    budget: int = 0
    _before: int = 0
    _listing: ProviderCursor | None = None  # None: nothing more to list
    _steps: deque[_Step] = field(default_factory=deque)
    _expired: CursorExpired | None = None

    async def sync(self, budget: int) -> int:
        """Import the stream from its saved cursor, up to ``budget`` items; what is left.
        An expired cursor starts the stream over once what was queued is published."""
        account_id = self._account.account_id
        cursor = await self._ports.cursors.load(account_id, self._stream) or ProviderCursor()
        self.budget, self._before = budget, self._result.done
        while True:
            self._listing, self._expired = cursor, None
            await self.run()
            if self._expired is None:
                return self.budget
            # Start over: downstream ids come from Message-IDs, so nothing is duplicated.
            log.info(
                "cursor expired: full resync",
                extra={
                    "account_id": account_id,
                    "stream": self._stream,
                    "error": str(self._expired),
                },
            )
            self._result.resyncs += 1
            cursor = ProviderCursor()
            await self._ports.cursors.save(account_id, self._stream, cursor)

    async def run(self) -> None:
        """Publish every page from ``_listing`` on, up to the budget."""
        try:
            while True:
                while self._listing is not None and len(self._steps) <= FETCH_AHEAD:
                    await self._list(self._listing)
                for step in islice(self._steps, FETCH_AHEAD + 1):
                    if step.fetch is None and step.refs:
                        step.fetch = asyncio.create_task(
                            self._provider.fetch(self._stream, step.refs)
                        )
                if not self._steps:
                    return
                step = self._steps.popleft()
                messages = await step.fetch if step.fetch is not None else []
                records, unreadable = message_records(messages, self._ports.topics)
                await self._ports.publish.many(records)
                self._result.published += len(messages) - unreadable
                self._result.unreadable += unreadable
                await self._ports.cursors.save(self._account.account_id, self._stream, step.after)
                self._result.done = self._before + step.after.done  # every stream's so far
        finally:
            pending = [s.fetch for s in self._steps if s.fetch is not None]
            for task in pending:
                task.cancel()
            for task in pending:
                with suppress(asyncio.CancelledError):
                    await task

    async def _list(self, cursor: ProviderCursor) -> None:
        """List the page at ``cursor`` into steps; the next page's cursor, if any."""
        if self.budget <= 0:
            self._result.more = True
            self._listing = None
            return
        try:
            page = await self._provider.changes(self._stream, cursor)
        except CursorExpired as expired:
            self._expired, self._listing = expired, None  # after what is queued is published
            return
        offset, done = cursor.offset, cursor.done
        size = self._provider.fetch_size
        following = page.cursor
        while offset < len(page.refs):
            chunk = page.refs[offset : offset + size]
            offset, done = offset + len(chunk), done + len(chunk)
            last = offset >= len(page.refs)
            self._steps.append(
                _Step(chunk, following.at(0, done) if last else cursor.at(offset, done))
            )
        if not page.refs[cursor.offset :]:
            self._steps.append(_Step((), following.at(0, done)))
        self.budget -= len(page.refs)
        self._listing = following.at(0, done) if page.more else None
