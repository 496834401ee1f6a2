"""Push: IMAP IDLE on real Dovecot reports new mail within seconds."""

import asyncio
import contextlib

import pytest

from crm_runtime.secrets import SecretBox
from fetcher.adapters.imap_idle import watch_inbox, watch_mailbox
from fetcher.settings import FetcherSettings

from .conftest import ImapUser, message

pytestmark = pytest.mark.integration


async def test_new_mail_in_the_inbox_is_pushed_within_seconds(
    settings: FetcherSettings, imap_user: ImapUser
) -> None:
    imap_user.append("INBOX", message(0, "before"))
    account = imap_user.account(SecretBox(settings.secrets_key))
    assert account.imap is not None
    arrivals: asyncio.Queue[None] = asyncio.Queue()

    async def on_new_mail() -> None:
        await arrivals.put(None)

    watch = asyncio.create_task(
        watch_inbox(
            account.imap,
            imap_user_password(imap_user),
            on_new_mail,
            retry_s=1,
            egress=settings.egress,
        )
    )
    try:
        # Opening the INBOX queues one catch-up sync: mail that came while no IDLE ran.
        await asyncio.wait_for(arrivals.get(), timeout=10)
        assert arrivals.empty()
        await asyncio.to_thread(imap_user.append, "INBOX", message(1, "pushed"))
        await asyncio.wait_for(arrivals.get(), timeout=10)
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch


def imap_user_password(user: ImapUser):
    from pydantic import SecretStr

    return SecretStr(user.password)


async def test_mail_filed_in_sent_is_pushed_too(
    settings: FetcherSettings, imap_user: ImapUser
) -> None:
    imap_user.append("INBOX", message(0, "before"))
    imap_user.append("Sent", message(0, "sent before", to="client@customer.io"))
    account = imap_user.account(SecretBox(settings.secrets_key))
    assert account.imap is not None
    arrivals: asyncio.Queue[None] = asyncio.Queue()

    async def on_new_mail() -> None:
        await arrivals.put(None)

    watch = asyncio.create_task(
        watch_mailbox(
            account.imap,
            imap_user_password(imap_user),
            account.mail,
            on_new_mail,
            retry_s=1,
            egress=settings.egress,
        )
    )
    try:
        for _ in range(2):  # one catch-up per folder opened: INBOX and Sent
            await asyncio.wait_for(arrivals.get(), timeout=10)
        await asyncio.to_thread(imap_user.append, "Sent", message(1, "sent", to="c@customer.io"))
        await asyncio.wait_for(arrivals.get(), timeout=10)
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
