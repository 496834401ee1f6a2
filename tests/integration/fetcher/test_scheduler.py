"""Queueing sync jobs on the real Kafka from the fetcher's config projection."""

import pytest

from crm_runtime.config_store import ConfigStore
from crm_runtime.secrets import SecretBox
from crm_schemas.sync import SyncKind, SyncRequested
from fetcher.scheduler import request_sync
from fetcher.settings import FetcherSettings

from .conftest import ImapUser, read_topic

pytestmark = pytest.mark.integration


async def test_sync_now_queues_a_job_for_a_known_account(
    settings: FetcherSettings, topics: None, db, imap_user: ImapUser
):
    account = imap_user.account(SecretBox(settings.secrets_key))
    await ConfigStore(db).apply(account)

    queued = await request_sync(settings, account.account_id, SyncKind.MAIL)

    assert [r.kind for r in queued] == [SyncKind.MAIL]
    records = await read_topic(settings.kafka_bootstrap, settings.topics.sync_requests)
    (key, value), *_ = records
    job = SyncRequested.model_validate_json(value)
    assert (key, job.account_id, job.reason) == (account.account_id, account.account_id, "manual")


async def test_sync_now_refuses_an_unknown_account(settings: FetcherSettings, topics: None, db):
    with pytest.raises(LookupError):
        await request_sync(settings, "nobody")
