"""The rate limiters on real FerretDB and against the Gmail emulator's own quota."""

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document
from fetcher.adapters.quota import ProjectQuota
from fetcher.settings import FetcherSettings
from tests.emulators.gmail import GmailEmulator
from tests.emulators.oauth import TokenAuthority
from tests.emulators.server import EmulatorServer

from .providers import CLIENT_ID, CLIENT_SECRET, external_mail
from .test_gmail_sync import OWNER, account_for, ports_for, published

pytestmark = pytest.mark.integration


async def test_replicas_sharing_a_project_quota_never_exceed_it_in_any_window(
    db: AsyncDatabase[Document],
):
    now = [1000.0]  # one clock for every replica; it moves only when one waits

    async def wait(seconds: float) -> None:
        now[0] += seconds
        await asyncio.sleep(0)

    replicas = [
        ProjectQuota(
            db, "google:shared", 100, 1.0, ticket_units=10, clock=lambda: now[0], sleep=wait
        )
        for _ in range(3)
    ]
    spent: Counter[int] = Counter()

    async def spend(quota: ProjectQuota) -> None:
        for _ in range(20):
            await quota.acquire(5)
            spent[int(now[0])] += 5

    await asyncio.gather(*(spend(q) for q in replicas))

    assert sum(spent.values()) == 300
    assert max(spent.values()) <= 100
    assert len(spent) >= 3  # 300 units at 100 a window take at least three windows


@pytest.fixture
def paced() -> Iterator[tuple[GmailEmulator, str, TokenAuthority]]:
    authority = TokenAuthority(CLIENT_ID, CLIENT_SECRET)
    emulator = GmailEmulator(authority, quota_units=400, window_s=1.0, retry_after_s=0.05)
    with EmulatorServer(emulator) as server:
        yield emulator, server.base_url, authority


async def test_the_mailbox_limiter_keeps_an_import_inside_gmails_quota_without_a_429(
    paced, settings: FetcherSettings, publisher, db
):
    emulator, base, authority = paced
    for n in range(150):  # 750 units of messages.get alone: about two windows' worth
        emulator.deliver(OWNER, external_mail(n, "paced"))
    fast = settings.model_copy(
        update={
            "google_client_id": CLIENT_ID,
            "google_client_secret": SecretStr(CLIENT_SECRET),
            "google_token_uri": f"{base}/token",
            "gmail_api_url": base,
            "gmail_user_quota_units": 400,
            "quota_window_s": 1.0,
            "gmail_batch_size": 20,
            "max_messages_per_job": 5000,
        }
    )
    result = await run(fast, authority, publisher, db)

    assert result.failed is None
    assert emulator.throttled == 0
    assert len({m.item_id for m in await published(fast)}) == 150
    assert sum(u for _, u in emulator.mailbox(OWNER).units_log) >= 750


async def run(settings, authority, publisher, db):
    from fetcher.sync_oauth import run_oauth_mail_job

    return await run_oauth_mail_job(
        account_for(settings, authority), ports_for(settings, publisher, db)
    )
