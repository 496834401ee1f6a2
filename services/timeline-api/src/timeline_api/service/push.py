"""Receiving provider notifications: each authentic one becomes a
``SyncRequested(reason="push")`` for its account and kind, on the fetcher's topic.

A flood is coalesced by window (``window``, a second by default): the first notification
of an account and kind in a window queues a sync at once; the others of that window
share one more sync, queued when the window ends, so a change notified while a sync was
already reading is never left to the next poll. Which replica queues is decided by a
mark taken by ``_id`` (``PushMarks``), so several API replicas queue one sync, not one
each. The fetcher skips a push request that a job started after it already covered.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from crm_schemas.base import utcnow
from crm_schemas.config import AccountConfigured, OAuthProvider
from crm_schemas.sync import SyncKind, SyncRequested
from timeline_api.domain.push import (
    GoogleAudience,
    PushRefused,
    Wanted,
    calendar_wanted,
    check_google_claims,
    gmail_address,
    graph_wanted,
    mark_key,
    window_end,
    window_of,
)
from timeline_api.ports.common import Publish
from timeline_api.ports.push import PushAccounts, PushMarks, PushTokenError, PushTokens

log = logging.getLogger(__name__)
SWEEP_EVERY = timedelta(minutes=5)
MARKS_KEPT = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Received:
    """What a notification did: syncs queued now, and notifications that share one."""

    queued: int = 0
    coalesced: int = 0


@dataclass
class PushInbox:
    """The use case behind the push endpoints."""

    accounts: PushAccounts
    marks: PushMarks
    publish: Publish
    tokens: PushTokens
    keys: Sequence[bytes]
    google: GoogleAudience
    window: timedelta = timedelta(seconds=1)
    clock: Callable[[], datetime] = utcnow
    _later: set["asyncio.Task[None]"] = field(default_factory=set)
    _swept: datetime | None = None

    # --- the three providers ------------------------------------------------------------

    async def gmail(self, authorization: str | None, envelope: Mapping[str, Any]) -> Received:
        """A Pub/Sub push of Gmail's topic: Google's token, then the mailbox it names."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise PushRefused(401, "a Google-signed bearer token is required", "no_token")
        try:
            claims = await self.tokens.claims(token.strip())
        except PushTokenError as error:
            raise PushRefused(
                401, f"the bearer token is not valid: {error}", "bad_token"
            ) from error
        check_google_claims(claims, self.google)
        address = gmail_address(envelope)
        found = [
            a
            for a in await self.accounts.accounts_by_email(address)
            if _is(a, OAuthProvider.GOOGLE)
        ]
        if not found:
            raise PushRefused(
                404, "no connected Google account has this address", "unknown_account"
            )
        return await self._all([Wanted(a.account_id, SyncKind.MAIL) for a in found])

    async def calendar(self, headers: Mapping[str, str]) -> Received:
        """A Google Calendar channel's notification."""
        wanted = calendar_wanted(headers, self.keys)
        if wanted is None:
            return Received()  # a channel's first message: it is open
        await self._connected(wanted, OAuthProvider.GOOGLE)
        return await self._all([wanted])

    async def graph(self, body: Mapping[str, Any], lifecycle: bool = False) -> Received:
        """A batch of Graph change (or lifecycle) notifications; those that are not ours
        are dropped, and the batch is refused only when none is."""
        wanted, foreign = graph_wanted(body, self.keys, lifecycle)
        if foreign:
            log.warning("push refused", extra={"provider": "microsoft", "why": "client_state"})
        if not wanted:
            raise PushRefused(403, "no notification carries a clientState of ours", "client_state")
        known = [w for w in wanted if await self._is_connected(w, OAuthProvider.MICROSOFT)]
        if not known:
            raise PushRefused(404, "no notification is for a connected account", "unknown_account")
        return await self._all(known)

    # --- queueing, coalesced ------------------------------------------------------------

    async def _all(self, wanted: Sequence[Wanted]) -> Received:
        queued = coalesced = 0
        for one in wanted:
            if await self._queue_or_coalesce(one):
                queued += 1
            else:
                coalesced += 1
        await self._sweep()
        return Received(queued, coalesced)

    async def _queue_or_coalesce(self, wanted: Wanted) -> bool:
        """Queue now if this is the window's first; else make sure one sync follows."""
        now = self.clock()
        index = window_of(now, self.window)
        if await self.marks.claim(mark_key(wanted, index), now):
            await self._queue(wanted)
            return True
        if await self.marks.claim(mark_key(wanted, index) + ":after", now):
            task = asyncio.create_task(self._after_window(wanted, index))
            self._later.add(task)
            task.add_done_callback(self._later.discard)
        return False

    async def _after_window(self, wanted: Wanted, index: int) -> None:
        """At the window's end, queue the sync its coalesced notifications share, unless
        the next window's first notification queued one already."""
        await asyncio.sleep(max(window_end(index, self.window) - self.clock().timestamp(), 0.0))
        try:
            if await self.marks.claim(mark_key(wanted, index + 1), self.clock()):
                await self._queue(wanted)
        except Exception:  # the next poll covers it; the task has no caller to tell
            log.exception("coalesced push sync not queued", extra={"account_id": wanted.account_id})

    async def _queue(self, wanted: Wanted) -> None:
        account = await self.accounts.account(wanted.account_id)
        if account is None:
            return
        request = SyncRequested(
            account_id=account.account_id,
            workspace_id=account.workspace_id,
            kind=wanted.kind,
            reason="push",
            resubscribe=wanted.resubscribe,
        )
        await self.publish(account.account_id, request)
        log.info(
            "push sync queued",
            extra={"account_id": account.account_id, "kind": wanted.kind.value},
        )

    async def _is_connected(self, wanted: Wanted, provider: OAuthProvider) -> bool:
        account = await self.accounts.account(wanted.account_id)
        return account is not None and _is(account, provider)

    async def _connected(self, wanted: Wanted, provider: OAuthProvider) -> None:
        if not await self._is_connected(wanted, provider):
            raise PushRefused(404, "the channel is for no connected account", "unknown_account")

    async def _sweep(self) -> None:
        now = self.clock()
        if self._swept is None or now - self._swept >= SWEEP_EVERY:
            self._swept = now
            await self.marks.sweep(now - MARKS_KEPT)

    async def close(self) -> None:
        """Cancel the syncs waiting for their window's end (the next poll covers them)."""
        for task in list(self._later):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _is(account: AccountConfigured, provider: OAuthProvider) -> bool:
    """A connected account of ``provider``."""
    return (
        not account.disconnected
        and account.oauth is not None
        and account.oauth.provider is provider
    )
