"""The fetcher worker: consumes sync jobs and runs them against the real adapters, and
answers mailbox lookups (``lookups``)."""

import logging
from dataclasses import dataclass, replace
from functools import partial

from crm_runtime.config_store import ConfigStore
from crm_runtime.delivery import RetryLater
from crm_runtime.outages import unavailable
from crm_runtime.secrets import SecretBox, push_keys, secret_box
from crm_runtime.service import Runtime, build_runtime, follow_config
from crm_schemas import groups
from crm_schemas.config import AccountConfigured, ConfigEvent
from crm_schemas.lookups import MessageLookupRequested
from crm_schemas.sync import SyncKind, SyncRequested
from fetcher.adapters.caldav_client import CalDavReader
from fetcher.adapters.calendar_state import MongoCalendarStateStore
from fetcher.adapters.cursors import MongoCursorStore
from fetcher.adapters.imap import open_imap
from fetcher.adapters.kafka import KafkaPublisher
from fetcher.adapters.oauth_tokens import RotatedTokens
from fetcher.adapters.passwords import SealedPasswords
from fetcher.adapters.provider_cursors import MongoProviderCursorStore
from fetcher.adapters.push_state import MongoPushStates
from fetcher.adapters.quota import ProjectQuota
from fetcher.idle import Watches
from fetcher.lookups import LookupPorts, MessageLookups
from fetcher.providers.factory import ProviderFactory
from fetcher.push import PushKeeper, push_policy
from fetcher.push_jobs import JobPush
from fetcher.settings import FetcherSettings
from fetcher.status import StatusReporter, report_waiting
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
    push: JobPush | None = None

    async def on_hold(self, request: SyncRequested, dependency: str) -> None:
        """A job waits for a dependency that is down: its account's status says so."""
        await report_waiting(self.mail.publish, self.mail.topics, request, dependency)

    async def handle(self, request: SyncRequested) -> None:
        """Run one bounded sync job for the requested account and kind.

        A job that fails on anything its own status does not already report turns the
        account's status ``failing`` with the reason, then fails, so the delivery layer
        retries it; the next job that succeeds turns the status back."""
        account = await self.config.account(request.account_id)
        if account is None:
            raise RetryLater(f"account {request.account_id} has not been configured yet")
        context: dict[str, object] = {"account_id": account.account_id, "kind": request.kind}
        # Who ran which job, and when: a replica's log shows the accounts it synced.
        log.info("sync job started", extra=context | {"reason": request.reason})
        try:
            if account.disconnected:
                log.info("sync request for a disconnected account ignored", extra=context)
            elif account.oauth is not None and self.push is not None:
                await self._api_job(account, request, self.push, context)
            else:
                await self._job(account, request.kind, context)
        except Exception as error:
            await self._report_failure(account, request.kind, error)
            raise
        finally:
            log.info("sync job ended", extra=context)

    async def _api_job(
        self,
        account: AccountConfigured,
        request: SyncRequested,
        push: JobPush,
        context: dict[str, object],
    ) -> None:
        """A Google or Microsoft job: its push subscriptions kept first, their state on
        its status; a push request a job of this replica already covered is skipped."""
        if push.covered(request):
            log.info("push request covered by a later job", extra=context)
            return
        state = await push.prepare(account, request)
        mail, calendar = self.oauth_mail, self.oauth_calendar
        stamped = replace(
            self,
            oauth_mail=push.stamped(mail, state) if mail else None,
            oauth_calendar=push.stamped(calendar, state) if calendar else None,
        )
        await stamped._job(account, request.kind, context)

    async def _job(
        self, account: AccountConfigured, kind: SyncKind, context: dict[str, object]
    ) -> None:
        if kind == SyncKind.MAIL and account.imap is not None:
            result = await run_mail_job(account, self.mail)
            done = {"published": result.published, "unreadable": result.unreadable}
            log.info("mail job done", extra=context | done)
        elif kind == SyncKind.MAIL and account.oauth is not None and self.oauth_mail:
            api_result = await run_oauth_mail_job(account, self.oauth_mail)
            done = {"published": api_result.published, "unreadable": api_result.unreadable}
            log.info("mail job done", extra=context | done)
        elif kind == SyncKind.CALENDAR and account.caldav is not None:
            outcome = await run_calendar_job(account, self.calendar)
            done = {"published": outcome.published, "removed": outcome.removed}
            log.info("calendar job done", extra=context | done)
        elif kind == SyncKind.CALENDAR and account.oauth and self.oauth_calendar:
            api_outcome = await run_oauth_calendar_job(account, self.oauth_calendar)
            log.info("calendar job done", extra=context | {"published": api_outcome.published})
        else:
            log.info("sync request for a protocol the account does not have", extra=context)

    async def _report_failure(
        self, account: AccountConfigured, kind: SyncKind, error: Exception
    ) -> None:
        """Turn the account's status ``failing``; a status that cannot be published (the
        broker is what failed) is logged, and the job's own error still goes up. A job
        stopped by a dependency that is down says nothing here: it waits, and ``on_hold``
        says the sync is paused (docs/adr/0030)."""
        context = {"account_id": account.account_id, "kind": kind, "error": repr(error)}
        if unavailable(error) is not None:
            log.info("sync job waits for a dependency", extra=context)
            return
        log.warning("sync job failed", extra=context)
        status = StatusReporter(account, kind, self.mail.topics, self.mail.publish)
        try:
            await status.failing_unexpectedly(error)
        except Exception as unreported:
            log.warning("failing status not published", extra=context | {"cause": repr(unreported)})


def sync_jobs(
    runtime: Runtime, settings: FetcherSettings, box: SecretBox, rotated: RotatedTokens
) -> SyncJobs:
    """The sync jobs wired to the real IMAP, CalDAV, MongoDB and Kafka adapters."""
    publisher = KafkaPublisher(runtime.bulk)
    passwords = SealedPasswords(box)
    mail = MailPorts(
        settings=settings,
        open_mailbox=partial(
            open_imap, timeout_s=settings.connect_timeout_s, egress=settings.egress
        ),
        cursors=MongoCursorStore(runtime.db),
        publish=publisher,
        password=passwords,
    )
    calendar = CalendarPorts(
        settings=settings,
        read_calendars=CalDavReader(
            settings.connect_timeout_s, settings.calendar_read_timeout_s, settings.egress
        ),
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
    config = runtime.config

    async def connected(account_id: str) -> bool:
        account = await config.account(account_id)
        return account is not None and not account.disconnected

    keeper = PushKeeper(
        policy=push_policy(settings),
        states=MongoPushStates(runtime.db),
        open_channel=providers.open_push,
        keys=push_keys(settings.secrets_key),
        connected=connected,
    )
    return SyncJobs(config, mail, calendar, oauth_mail, oauth_calendar, JobPush(keeper))


def message_lookups(
    runtime: Runtime, settings: FetcherSettings, box: SecretBox, rotated: RotatedTokens
) -> MessageLookups:
    """Mailbox lookups wired to the real IMAP, the providers and Kafka."""
    providers = ProviderFactory(settings, SealedPasswords(box), rotated_tokens=rotated)
    ports = LookupPorts(
        topics=settings.topics,
        accounts=runtime.config,
        open_imap=partial(open_imap, timeout_s=settings.connect_timeout_s, egress=settings.egress),
        open_api=providers.open_mail,
        password=SealedPasswords(box),
        publish=KafkaPublisher(runtime.bulk),
    )
    return MessageLookups(ports)


def build(settings: FetcherSettings) -> Runtime:
    """The fetcher worker: config projection plus the sync-request consumer."""
    box = secret_box(settings)  # refuses to start without the deployment's own key
    runtime = build_runtime("fetcher", settings)
    rotated = RotatedTokens(runtime.db, box)
    jobs = sync_jobs(runtime, settings, box, rotated)

    # push: this worker's accounts' IDLE watches move with its partitions and the config
    watches = Watches(runtime, settings) if settings.idle else None

    async def on_config(event: ConfigEvent) -> None:
        if not isinstance(event, AccountConfigured):
            return
        if event.disconnected:
            if jobs.push is not None:  # while its consent still opens the provider
                await jobs.push.keeper.forget(event.account_id)
            await rotated.forget(event.account_id)  # its secrets go with it
        if watches is not None and event.imap is not None:
            watches.changed()

    follow_config(runtime, on_config)
    if watches is not None:
        runtime.health.follow(settings.group(groups.FETCHER), watches.follow)
        runtime.on_start.append(watches.start)
        runtime.on_stop.append(watches.stop)
    # One job at a time: a sync job runs long, and a batch must end within the poll interval.
    runtime.consume(
        settings.topics.sync_requests,
        groups.FETCHER,
        SyncRequested,
        jobs.handle,
        batch=False,
        on_hold=jobs.on_hold,
    )
    lookups = message_lookups(runtime, settings, box, rotated)
    runtime.consume(
        settings.topics.lookup_requests,
        groups.FETCHER_LOOKUPS,
        MessageLookupRequested,
        lookups.handle,
        batch=False,
    )
    return runtime
