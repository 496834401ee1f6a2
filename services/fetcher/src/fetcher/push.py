"""Keeping each Google and Microsoft account's push subscriptions alive (docs/push.md).

The fetcher owns them, as it holds the OAuth tokens. Every API sync job first asks the
keeper about its account and kind: a missing or failed subscription is made, an old one
or one ending soon is renewed (or, where the provider cannot extend one, replaced), a
renewal the provider refuses or no longer knows becomes a new subscription, and a
request with ``resubscribe`` (a Graph lifecycle notification) renews at once. The
scheduler queues a job for every account every few minutes, so renewals need no timer
of their own. A disconnected account's subscriptions are deleted at the provider.

State lives by ``_id`` (account, kind, stream) in the fetcher's database, so any
replica, after any restart, finds what exists; a creation is noted (``pending``) before
the provider is asked, so one a crash interrupted is cleaned up, not duplicated.
"""

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from crm_schemas.base import utcnow
from crm_schemas.config import AccountConfigured, OAuthConnection, OAuthProvider
from crm_schemas.push import PushLabel
from crm_schemas.sync import PushState, SyncKind
from fetcher.domain.problems import SyncProblem, explain
from fetcher.domain.push import (
    PushPolicy,
    Step,
    Subscription,
    lifetime,
    next_step,
    push_failed,
    push_state,
    push_unavailable,
)
from fetcher.providers.base import Throttled
from fetcher.providers.http import ApiError
from fetcher.providers.push_channels import PushChannel, SubscriptionGone
from fetcher.settings import FetcherSettings

log = logging.getLogger(__name__)

PushOpener = Callable[
    [AccountConfigured, SyncKind, bytes], AbstractAsyncContextManager[PushChannel]
]
PROVIDER_NAMES = {OAuthProvider.GOOGLE: "Google", OAuthProvider.MICROSOFT: "Microsoft"}


class PushStates(Protocol):
    """Where the subscriptions are kept (``adapters.push_state``)."""

    async def of_account(self, account_id: str) -> list[Subscription]: ...

    async def save(self, sub: Subscription) -> None: ...

    async def delete(self, sub: Subscription) -> None: ...


def _refusal(error: Exception, provider: str) -> str:
    """A failure in the owner's words, without anything secret."""
    if isinstance(error, ApiError):
        return f"{provider} refused it (HTTP {error.status} {error.reason})".replace(" )", ")")
    if isinstance(error, SyncProblem):
        return explain(error).reason
    if isinstance(error, Throttled):
        return f"{provider} is throttling requests"
    return f"{provider} could not be reached"


@dataclass
class PushKeeper:
    """Makes, renews, replaces and deletes the subscriptions of accounts."""

    policy: PushPolicy
    states: PushStates
    open_channel: PushOpener
    keys: Sequence[bytes]
    connected: Callable[[str], Awaitable[bool]]
    clock: Callable[[], datetime] = utcnow
    nonce: Callable[[], str] = field(default=lambda: secrets.token_hex(6))

    async def keep(
        self, account: AccountConfigured, kind: SyncKind, resubscribe: bool = False
    ) -> PushState | None:
        """Bring the account's subscriptions of ``kind`` in line; what its owner is told
        (None for an account without OAuth: IMAP IDLE is its push)."""
        if account.oauth is None:
            return None
        provider = account.oauth.provider
        unavailable = push_unavailable(self.policy, provider, kind)
        if unavailable is not None:
            return unavailable
        name = PROVIDER_NAMES[provider]
        stored = {s.stream: s for s in await self.states.of_account(account.account_id)}
        stored = {stream: s for stream, s in stored.items() if s.kind is kind}
        kept: list[Subscription] = []
        try:
            async with self.open_channel(account, kind, self.keys[0]) as channel:
                for stream in channel.streams():
                    found = stored.pop(stream, None)
                    kept.append(
                        await self._stream(account, kind, channel, stream, found, resubscribe)
                    )
                for left in stored.values():  # a calendar no longer synced
                    await channel.delete(left)
                    await self.states.delete(left)
        except (SyncProblem, Throttled, ApiError, OSError) as error:
            reason = _refusal(error, name)
            log.warning("push not kept", extra={"account_id": account.account_id, "why": reason})
            return push_failed(name, reason)
        if not await self.connected(account.account_id):  # disconnected meanwhile
            await self.forget(account.account_id)
        return push_state(kept, name)

    async def _stream(
        self,
        account: AccountConfigured,
        kind: SyncKind,
        channel: PushChannel,
        stream: str,
        found: Subscription | None,
        resubscribe: bool,
    ) -> Subscription:
        assert account.oauth is not None
        now = self.clock()
        consent = account.oauth.model_dump(mode="json")
        sub = (
            replace(found, oauth=consent)
            if found
            else Subscription(
                account.account_id, kind, stream, account.oauth.provider, oauth=consent
            )
        )
        step = next_step(found, now, self.policy, resubscribe)
        if step is Step.KEEP:
            return sub
        expires = now + lifetime(self.policy, account.oauth.provider, kind)
        name = PROVIDER_NAMES[account.oauth.provider]
        try:
            if step is Step.RENEW and channel.renewable:
                try:
                    renewed = await channel.renew(sub, expires)
                    sub = sub.renewed(renewed.expires_at, now)
                    await self.states.save(sub)
                    self._log("push renewed", sub)
                    return sub
                except (SubscriptionGone, ApiError) as gone:
                    log.info("push renewal failed: made again", extra=self._where(sub, gone))
            return await self._create(channel, sub, expires, now)
        except ApiError as error:
            failed = sub.failed(_refusal(error, name))
            await self.states.save(failed)
            log.warning("push refused", extra=self._where(sub, error))
            return failed

    async def _create(
        self, channel: PushChannel, sub: Subscription, expires: datetime, now: datetime
    ) -> Subscription:
        """A new subscription, noted before it is asked for; the one it replaces ended."""
        if sub.pending is not None:
            await channel.clean_up(sub)
        nonce = self.nonce()
        await self.states.save(replace(sub, pending=nonce))
        created = await channel.create(
            sub.stream, PushLabel(sub.account_id, sub.kind, nonce), expires
        )
        made = replace(
            sub, nonce=nonce, pending=None, resource_id=created.resource_id or sub.resource_id
        ).renewed(created.expires_at, now)
        await self.states.save(made)
        self._log("push subscribed", made)
        replaced = sub.nonce is not None and (
            not channel.renewable or sub.resource_id not in (None, made.resource_id)
        )
        if replaced:
            try:
                await channel.delete(sub)
            except ApiError as error:  # it ends by itself at its expiry
                log.info("old push subscription not deleted", extra=self._where(sub, error))
        return made

    async def forget(self, account_id: str) -> int:
        """Delete a disconnected account's subscriptions at the provider (as far as its
        consent still allows: what is left ends at its expiry) and forget them."""
        subs = await self.states.of_account(account_id)
        for kind in dict.fromkeys(s.kind for s in subs):
            ours = [s for s in subs if s.kind is kind]
            account = _consented(ours[0])
            try:
                if account is not None:
                    async with self.open_channel(account, kind, self.keys[0]) as channel:
                        for sub in ours:
                            await channel.delete(sub)
                            self._log("push deleted", sub)
            except (SyncProblem, Throttled, ApiError, OSError) as error:
                log.info(
                    "push not deleted: it ends at its expiry", extra=self._where(ours[0], error)
                )
            for sub in ours:
                await self.states.delete(sub)
        return len(subs)

    @staticmethod
    def _where(sub: Subscription, error: Exception | None = None) -> dict[str, object]:
        where: dict[str, object] = {
            "account_id": sub.account_id,
            "kind": sub.kind.value,
            "stream": sub.stream,
        }
        if error is not None:
            where["error"] = type(error).__name__ + (
                f" {error.status}" if isinstance(error, ApiError) else ""
            )
        return where

    def _log(self, message: str, sub: Subscription) -> None:
        extra = self._where(sub) | {"expires_at": str(sub.expires_at)}
        log.info(message, extra=extra)


def push_policy(settings: FetcherSettings) -> PushPolicy:
    """The deployment's push settings as the rules take them."""
    return PushPolicy(
        push_url=settings.push_url,
        allow_http=settings.push_allow_http,
        gmail_topic=settings.gmail_pubsub_topic,
        renew_every=timedelta(seconds=settings.push_renew_every_s),
        renew_before=timedelta(seconds=settings.push_renew_before_s),
        graph_lifetime=timedelta(minutes=settings.graph_subscription_minutes),
        calendar_lifetime=timedelta(seconds=settings.calendar_channel_s),
    )


def _consented(sub: Subscription) -> AccountConfigured | None:
    """Enough of the account to reach its provider: its id and the consent kept with the
    subscription (a disconnected account's config no longer has it)."""
    if sub.oauth is None:
        return None
    return AccountConfigured(
        account_id=sub.account_id,
        workspace_id="-",
        owner_member_id="-",
        email="-",
        oauth=OAuthConnection.model_validate(sub.oauth),
    )
