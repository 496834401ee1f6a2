"""Accounts cannot reach the deployment's own network: the host's addresses are checked
at every connection the fetcher makes (not only when the account was connected), and
every CalDAV redirect too."""

from dataclasses import replace
from functools import partial

import pytest

from crm_runtime.secrets import SecretBox
from crm_schemas.sync import SyncState, SyncStatusChanged
from fetcher.adapters.caldav_client import CalDavReader
from fetcher.adapters.imap import open_imap
from fetcher.settings import FetcherSettings
from fetcher.sync_calendar import CalendarPorts, run_calendar_job
from fetcher.sync_mail import MailPorts, run_mail_job
from tests.support.redirects import redirect_to_a_private_address

from .conftest import CalDavUser, ImapUser, message, read_topic

pytestmark = pytest.mark.integration


def guarded(settings: FetcherSettings, *trusted: str) -> FetcherSettings:
    """The settings of a deployment with the SSRF guard on (as in production)."""
    return settings.model_copy(
        update={"allow_private_hosts": False, "allowed_private_networks": trusted}
    )


async def statuses(settings: FetcherSettings) -> list[SyncStatusChanged]:
    records = await read_topic(settings.kafka_bootstrap, settings.topics.sync_status)
    return [SyncStatusChanged.model_validate_json(value) for _, value in records]


async def test_a_mailbox_whose_name_now_points_at_a_private_address_is_never_read(
    settings: FetcherSettings, mail_ports: MailPorts, imap_user: ImapUser
) -> None:
    imap_user.append("INBOX", message(0, "internal"))
    strict = guarded(settings)
    ports = replace(
        mail_ports,
        settings=strict,
        open_mailbox=partial(open_imap, timeout_s=10, egress=strict.egress),
    )
    account = imap_user.account(SecretBox(settings.secrets_key))
    assert account.imap is not None
    # accepted once with a public address; the name now resolves to loopback
    local = account.model_copy(
        update={"imap": account.imap.model_copy(update={"host": "localhost"})}
    )

    result = await run_mail_job(local, ports)

    assert result.failed is not None
    (status,) = await statuses(settings)
    assert status.state is SyncState.FAILING
    assert "private or local address" in (status.reason or "")
    assert await read_topic(settings.kafka_bootstrap, settings.topics.mail_raw) == []


async def test_a_calendar_that_redirects_to_a_private_address_is_not_followed(
    settings: FetcherSettings, calendar_ports: CalendarPorts, caldav_user: CalDavUser
) -> None:
    strict = guarded(settings, "127.0.0.1/32")  # the server itself is trusted, 127.0.0.2 not
    ports = replace(
        calendar_ports,
        settings=strict,
        read_calendars=CalDavReader(10, egress=strict.egress),
    )
    with redirect_to_a_private_address() as (url, reached):
        redirected = CalDavUser(url, caldav_user.username, caldav_user.password)

        result = await run_calendar_job(redirected.account(SecretBox(settings.secrets_key)), ports)

    assert reached == []
    assert result.failed is not None
    (status,) = await statuses(settings)
    assert status.state is SyncState.FAILING
    assert "private or local address" in (status.reason or "")
