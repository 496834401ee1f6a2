"""Opening an account's API provider: its tokens, HTTP client and rate limiters."""

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from crm_schemas.config import AccountConfigured, OAuthProvider
from crm_schemas.sync import SyncKind
from fetcher.adapters.quota import MailboxQuota, ProjectQuota
from fetcher.ports import PasswordReader
from fetcher.providers.base import CalendarProvider, MailProvider, Quota
from fetcher.providers.gcal import GoogleCalendar
from fetcher.providers.gmail import GmailMail
from fetcher.providers.graph_calendar import GraphCalendar
from fetcher.providers.graph_mail import GraphMail
from fetcher.providers.http import AccessTokens, ApiClient, RetryPolicy
from fetcher.providers.push_channels import (
    CalendarChannels,
    GmailWatch,
    GraphSubscriptions,
    PushChannel,
)
from fetcher.providers.tokens import GoogleTokens, MicrosoftTokens, Rotation, TokenKeeper
from fetcher.settings import FetcherSettings


@dataclass(slots=True)
class ProviderFactory:
    """Builds providers; keeps each mailbox's limiter across its jobs in this process."""

    settings: FetcherSettings
    secrets: PasswordReader
    project_quota: ProjectQuota | None = None
    rotated_tokens: TokenKeeper | None = None
    _mailbox_quotas: dict[str, MailboxQuota] = field(default_factory=dict)

    def mailbox_quota(self, account: AccountConfigured) -> MailboxQuota:
        """The mailbox's own limiter: Gmail quota units, or Graph requests, per window."""
        quota = self._mailbox_quotas.get(account.account_id)
        if quota is None:
            s = self.settings
            google = account.oauth is not None and account.oauth.provider is OAuthProvider.GOOGLE
            quota = (
                MailboxQuota(s.gmail_user_quota_units, s.quota_window_s)
                if google
                else MailboxQuota(s.graph_mailbox_requests, s.graph_window_s)
            )
            self._mailbox_quotas[account.account_id] = quota
        return quota

    def tokens(self, account: AccountConfigured) -> AccessTokens:
        """The account's access-token source."""
        assert account.oauth is not None
        s = self.settings
        if account.oauth.provider is OAuthProvider.GOOGLE:
            refresh = self.secrets(account.oauth.refresh_token_encrypted, "Google")
            return GoogleTokens(
                refresh,
                s.google_client_id,
                s.google_client_secret,
                s.google_token_uri,
                account.oauth.scopes,
            )
        refresh = self.secrets(account.oauth.refresh_token_encrypted, "Microsoft")
        return MicrosoftTokens(
            refresh,
            s.microsoft_client_id,
            s.microsoft_client_secret,
            s.microsoft_authority,
            account.oauth.scopes,
            s.provider_ca_file,
            Rotation(account.account_id, self.rotated_tokens) if self.rotated_tokens else None,
        )

    @asynccontextmanager
    async def _http(self) -> AsyncIterator[httpx.AsyncClient]:
        s = self.settings
        verify: ssl.SSLContext | bool = True
        if s.provider_ca_file:
            verify = ssl.create_default_context(cafile=s.provider_ca_file)
        limits = httpx.Limits(max_connections=max(s.graph_concurrency, 4))
        async with httpx.AsyncClient(
            timeout=s.provider_timeout_s, verify=verify, limits=limits
        ) as http:
            yield http

    def _api(self, http: httpx.AsyncClient, account: AccountConfigured) -> ApiClient:
        assert account.oauth is not None
        s = self.settings
        policy = RetryPolicy(attempts=s.provider_attempts, max_wait_s=s.provider_max_wait_s)
        google = account.oauth.provider is OAuthProvider.GOOGLE
        return ApiClient(http, self.tokens(account), policy, "Google" if google else "Microsoft")

    @asynccontextmanager
    async def open_mail(self, account: AccountConfigured) -> AsyncIterator[MailProvider]:
        """The account's mail provider, its HTTP client closed afterwards."""
        assert account.oauth is not None
        s = self.settings
        async with self._http() as http:
            api = self._api(http, account)
            if account.oauth.provider is OAuthProvider.GOOGLE:
                quotas: list[Quota] = [self.mailbox_quota(account)]
                if self.project_quota is not None:
                    quotas.append(self.project_quota)
                yield GmailMail(
                    api, s.gmail_api_url, account, quotas, s.gmail_batch_size, s.body_max_bytes
                )
            else:
                yield GraphMail(
                    api,
                    s.graph_api_url,
                    account,
                    s.graph_batch_size,
                    s.graph_concurrency,
                    s.body_max_bytes,
                    self.mailbox_quota(account),
                )

    @asynccontextmanager
    async def open_calendar(
        self, account: AccountConfigured, window: tuple[datetime, datetime]
    ) -> AsyncIterator[CalendarProvider]:
        """The account's calendar provider, its HTTP client closed afterwards."""
        assert account.oauth is not None
        s = self.settings
        async with self._http() as http:
            api = self._api(http, account)
            if account.oauth.provider is OAuthProvider.GOOGLE:
                yield GoogleCalendar(api, s.gcal_api_url, account)
            else:
                yield GraphCalendar(api, s.graph_api_url, account, window, s.graph_concurrency)

    @asynccontextmanager
    async def open_push(
        self, account: AccountConfigured, kind: SyncKind, key: bytes
    ) -> AsyncIterator[PushChannel]:
        """The account's push subscriptions of ``kind`` (``key`` signs their marks)."""
        assert account.oauth is not None
        s = self.settings
        async with self._http() as http:
            api = self._api(http, account)
            if account.oauth.provider is OAuthProvider.MICROSOFT:
                yield GraphSubscriptions(api, s.graph_api_url, kind, s.push_url, key)
            elif kind is SyncKind.MAIL:
                yield GmailWatch(api, s.gmail_api_url, s.gmail_pubsub_topic)
            else:
                yield CalendarChannels(api, s.gcal_api_url, account, s.push_url, key)
