"""The fetcher worker: consumes sync jobs and runs them against the real adapters."""

import logging
from dataclasses import dataclass
from functools import partial

from crm_runtime.config_store import ConfigStore
from crm_runtime.delivery import RetryLater
from crm_runtime.secrets import SecretBox
from crm_runtime.service import Runtime, build_runtime, follow_config
from crm_schemas.config import AccountConfigured, ConfigEvent
from crm_schemas.sync import SyncKind, SyncRequested
from fetcher.adapters.caldav_client import CalDavReader
from fetcher.adapters.calendar_state import MongoCalendarStateStore
from fetcher.adapters.cursors import MongoCursorStore
from fetcher.adapters.imap import open_imap
from fetcher.adapters.kafka import KafkaPublisher
from fetcher.adapters.oauth_tokens import RotatedTokens
from fetcher.adapters.passwords import SealedPasswords
from fetcher.adapters.provider_cursors import MongoProviderCursorStore
from fetcher.adapters.quota import ProjectQuota
from fetcher.providers.factory import ProviderFactory
from fetcher.settings import FetcherSettings
from fetcher.status import report_waiting
from fetcher.sync_calendar import CalendarPorts, run_calendar_job
from fetcher.sync_mail import MailPorts, run_mail_job
from fetcher.sync_oauth import OAuthMailPorts, run_oauth_mail_job
from fetcher.sync_oauth_calendar import OAuthCalendarPorts, run_oauth_calendar_job

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SyncJobs:
    """Turns a SyncRequested into the mail or calendar job it asks for."""

    config: ConfigStore
    mail: MailPorts
    calendar: CalendarPorts
    oauth_mail: OAuthMailPorts | None = None
    oauth_calendar: OAuthCalendarPorts | None = None

    async def on_hold(self, request: SyncRequested, dependency: str) -> None:
        """A job waits for a dependency that is down: its account's status says so."""
        await report_waiting(self.mail.publish, self.mail.topics, request, dependency)

    async def handle(self, request: SyncRequested) -> None:
        """Run one bounded sync job for the requested account and kind."""
        account = await self.config.account(request.account_id)
        if account is None:
            raise RetryLater(f"account {request.account_id} has not been configured yet")
        context = {"account_id": account.account_id, "kind": request.kind}
        if account.disconnected:
            log.info("sync request for a disconnected account ignored", extra=context)
        elif request.kind == SyncKind.MAIL and account.imap is not None:
            result = await run_mail_job(account, self.mail)
            log.info("mail job done", extra=context | {"published": result.published})
        elif request.kind == SyncKind.MAIL and account.oauth is not None and self.oauth_mail:
            api_result = await run_oauth_mail_job(account, self.oauth_mail)
            log.info("mail job done", extra=context | {"published": api_result.published})
        elif request.kind == SyncKind.CALENDAR and account.caldav is not None:
            outcome = await run_calendar_job(account, self.calendar)
            done: dict[str, object] = {"published": outcome.published, "removed": outcome.removed}
            log.info("calendar job done", extra=context | done)
        elif request.kind == SyncKind.CALENDAR and account.oauth and self.oauth_calendar:
            api_outcome = await run_oauth_calendar_job(account, self.oauth_calendar)
            log.info("calendar job done", extra=context | {"published": api_outcome.published})
        else:
            log.info("sync request for a protocol the account does not have", extra=context)


def sync_jobs(runtime: Runtime, settings: FetcherSettings, rotated: RotatedTokens) -> SyncJobs:
    """The sync jobs wired to the real IMAP, CalDAV, MongoDB and Kafka adapters."""
    publisher = KafkaPublisher(runtime.bulk)
    passwords = SealedPasswords(SecretBox(settings.secrets_key))
    mail = MailPorts(
        settings=settings,
        open_mailbox=partial(open_imap, timeout_s=settings.connect_timeout_s),
        cursors=MongoCursorStore(runtime.db),
        publish=publisher,
        password=passwords,
    )
    calendar = CalendarPorts(
        settings=settings,
        read_calendars=CalDavReader(settings.connect_timeout_s, settings.calendar_read_timeout_s),
        publish=publisher,
        password=passwords,
        states=MongoCalendarStateStore(runtime.db),
    )
    providers = ProviderFactory(
        settings,
        passwords,
        ProjectQuota(
            runtime.db,
            f"google:{settings.google_client_id}",
            settings.google_project_quota_units,
            settings.quota_window_s,
        ),
        rotated,
    )
    oauth_mail = OAuthMailPorts(
        settings=settings,
        open_provider=providers.open_mail,
        cursors=MongoProviderCursorStore(runtime.db),
        publish=publisher,
    )
    oauth_calendar = OAuthCalendarPorts(
        settings=settings,
        open_provider=providers.open_calendar,
        cursors=MongoProviderCursorStore(runtime.db),
        states=MongoCalendarStateStore(runtime.db),
        publish=publisher,
    )
    return SyncJobs(runtime.config, mail, calendar, oauth_mail, oauth_calendar)


def build(settings: FetcherSettings) -> Runtime:
    """The fetcher worker: config projection plus the sync-request consumer."""
    runtime = build_runtime("fetcher", settings)
    rotated = RotatedTokens(runtime.db, SecretBox(settings.secrets_key))

    async def on_config(event: ConfigEvent) -> None:
        if isinstance(event, AccountConfigured) and event.disconnected:
            await rotated.forget(event.account_id)  # its secrets go with it

    follow_config(runtime, on_config)
    jobs = sync_jobs(runtime, settings, rotated)
    # One job at a time: a sync job runs long, and a batch must end within the poll interval.
    runtime.consume(
        settings.topics.sync_requests,
        "fetcher",
        SyncRequested,
        jobs.handle,
        batch=False,
        on_hold=jobs.on_hold,
    )
    return runtime
