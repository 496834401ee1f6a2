"""Gmail mail sync against the Gmail emulator, with real Kafka and FerretDB."""

from collections import Counter
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document
from crm_runtime.secrets import SecretBox
from crm_schemas.config import MailSettings, MailVisibility, OAuthProvider
from crm_schemas.mail import FolderRole, RawMessage
from crm_schemas.sync import SyncRequested, SyncState, SyncStatusChanged
from fetcher.adapters.kafka import KafkaPublisher
from fetcher.adapters.passwords import SealedPasswords
from fetcher.adapters.provider_cursors import MongoProviderCursorStore
from fetcher.adapters.quota import ProjectQuota
from fetcher.domain.problems import ProblemKind
from fetcher.providers.base import Phase
from fetcher.providers.factory import ProviderFactory
from fetcher.settings import FetcherSettings
from fetcher.sync_oauth import OAuthMailPorts, run_oauth_mail_job
from tests.emulators.gmail import GmailEmulator
from tests.emulators.oauth import TokenAuthority
from tests.emulators.server import EmulatorServer

from .conftest import read_topic
from .providers import CLIENT_ID, CLIENT_SECRET, external_mail, oauth_account

pytestmark = pytest.mark.integration
OWNER = "owner@acme.test"


@pytest.fixture
def authority() -> TokenAuthority:
    return TokenAuthority(CLIENT_ID, CLIENT_SECRET)


@pytest.fixture
def gmail(authority: TokenAuthority) -> Iterator[tuple[GmailEmulator, str]]:
    emulator = GmailEmulator(authority, quota_units=15000, window_s=60, retry_after_s=0.05)
    with EmulatorServer(emulator) as server:
        yield emulator, server.base_url


@pytest.fixture
def gmail_settings(settings: FetcherSettings, gmail: tuple[GmailEmulator, str]) -> FetcherSettings:
    _, base = gmail
    return settings.model_copy(
        update={
            "google_client_id": CLIENT_ID,
            "google_client_secret": SecretStr(CLIENT_SECRET),
            "google_token_uri": f"{base}/token",
            "gmail_api_url": base,
            "provider_max_wait_s": 0.5,
            "provider_attempts": 6,
            "max_messages_per_job": 5000,
        }
    )


def ports_for(
    settings: FetcherSettings, publisher: KafkaPublisher, db: AsyncDatabase[Document]
) -> OAuthMailPorts:
    secrets = SealedPasswords(SecretBox(settings.secrets_key))
    project = ProjectQuota(db, "google:test", settings.google_project_quota_units, 60)
    factory = ProviderFactory(settings, secrets, project)
    return OAuthMailPorts(
        settings=settings,
        open_provider=factory.open_mail,
        cursors=MongoProviderCursorStore(db),
        publish=publisher,
    )


@pytest.fixture
def ports(
    gmail_settings: FetcherSettings, publisher: KafkaPublisher, db: AsyncDatabase[Document]
) -> OAuthMailPorts:
    return ports_for(gmail_settings, publisher, db)


async def published(settings: FetcherSettings) -> list[RawMessage]:
    records = await read_topic(settings.kafka_bootstrap, settings.topics.mail_raw)
    return [RawMessage.model_validate_json(value) for _, value in records]


async def statuses(settings: FetcherSettings) -> list[SyncStatusChanged]:
    records = await read_topic(settings.kafka_bootstrap, settings.topics.sync_status)
    return [SyncStatusChanged.model_validate_json(value) for _, value in records]


async def requests(settings: FetcherSettings) -> list[SyncRequested]:
    records = await read_topic(settings.kafka_bootstrap, settings.topics.sync_requests)
    return [SyncRequested.model_validate_json(value) for _, value in records]


def account_for(settings: FetcherSettings, authority: TokenAuthority, mail=None):
    box = SecretBox(settings.secrets_key)
    return oauth_account(box, OAuthProvider.GOOGLE, OWNER, authority.consent(OWNER), mail)


async def test_a_first_import_pages_through_inbox_and_sent_and_leaves_categories_out(
    gmail, authority, gmail_settings, ports
):
    emulator, _ = gmail
    for n in range(620):  # two pages of 500 ids and more
        emulator.deliver(OWNER, external_mail(n, "inbox"))
    for n in range(3):
        emulator.deliver(OWNER, external_mail(n, "sent", to="client@customer.io"), ("SENT",))
    emulator.deliver(OWNER, external_mail(0, "promo"), ("INBOX", "CATEGORY_PROMOTIONS"))
    emulator.deliver(OWNER, external_mail(0, "spam"), ("SPAM",))

    result = await run_oauth_mail_job(account_for(gmail_settings, authority), ports)

    messages = await published(gmail_settings)
    subjects = Counter((m.subject or "").split()[0] for m in messages)
    assert subjects == {"inbox": 620, "sent": 3}
    assert len({m.item_id for m in messages}) == 623
    assert all(m.provider == "gmail" for m in messages)
    assert {m.folder_role for m in messages if m.subject.startswith("sent")} == {FolderRole.SENT}
    assert max(emulator.mailbox(OWNER).gets.values()) == 1  # nothing fetched twice
    assert emulator.mailbox(OWNER).calls["list"] >= 3
    assert result.failed is None
    assert not result.more
    assert (await statuses(gmail_settings))[-1].state is SyncState.UP_TO_DATE
    cursor = await ports.cursors.load(f"acc-{OWNER}", "gmail")
    assert cursor is not None
    assert cursor.phase is Phase.INCREMENTAL


async def test_the_next_job_publishes_only_what_history_lists_as_new(
    gmail, authority, gmail_settings, ports
):
    emulator, _ = gmail
    account = account_for(gmail_settings, authority)
    for n in range(5):
        emulator.deliver(OWNER, external_mail(n, "old"))
    await run_oauth_mail_job(account, ports)
    emulator.deliver(OWNER, external_mail(0, "new"))
    filed = emulator.deliver(OWNER, external_mail(1, "new"), ("CATEGORY_UPDATES",))
    emulator.deliver(OWNER, external_mail(2, "new"), ("INBOX", "CATEGORY_SOCIAL"))

    await run_oauth_mail_job(account, ports)
    assert emulator.mailbox(OWNER).calls["history"] >= 1
    subjects = sorted(m.subject or "" for m in await published(gmail_settings))
    assert subjects == ["new 0", *(f"old {n}" for n in range(5))]

    emulator.relabel(OWNER, filed, "INBOX")  # moved out of the tab? still a category: left out
    label = emulator.add_label(OWNER, "Clients")
    kept = emulator.deliver(OWNER, external_mail(3, "new"), ("CATEGORY_PERSONAL",))
    emulator.relabel(OWNER, kept, label)
    clients = account.model_copy(update={"mail": MailSettings(include_folders=("Clients",))})
    await run_oauth_mail_job(clients, ports)
    last = [m for m in await published(gmail_settings) if m.subject == "new 3"]
    assert [(m.folder, m.folder_role) for m in last] == [("Clients", FolderRole.OTHER)]


async def test_an_expired_history_id_resyncs_everything_without_a_new_item(
    gmail, authority, gmail_settings, ports
):
    emulator, _ = gmail
    account = account_for(gmail_settings, authority)
    for n in range(4):
        emulator.deliver(OWNER, external_mail(n, "kept"))
    await run_oauth_mail_job(account, ports)
    emulator.expire_history(OWNER)
    emulator.deliver(OWNER, external_mail(9, "after"))

    result = await run_oauth_mail_job(account, ports)

    assert result.resyncs == 1
    messages = await published(gmail_settings)
    assert len({m.item_id for m in messages}) == 5  # the same four items again, plus one
    assert "after 9" in {m.subject for m in messages}
    cursor = await ports.cursors.load(account.account_id, "gmail")
    assert cursor is not None
    assert cursor.phase is Phase.INCREMENTAL


async def test_a_429_storm_is_ridden_out_with_nothing_lost_and_nothing_repeated(
    gmail, authority, gmail_settings, ports
):
    emulator, _ = gmail
    for n in range(120):
        emulator.deliver(OWNER, external_mail(n, "storm"))
    emulator.storm(OWNER, 25)
    account = account_for(gmail_settings, authority)

    jobs = 1
    while (result := await run_oauth_mail_job(account, ports)).more:  # as continuations do
        jobs += 1
    assert emulator.throttled >= 25
    assert result.failed is None
    assert jobs <= 6
    keys = Counter(m.item_id for m in await published(gmail_settings))
    assert len(keys) == 120
    assert set(keys.values()) == {1}


async def test_a_storm_longer_than_the_retries_stops_the_job_and_queues_its_continuation(
    gmail, authority, gmail_settings, publisher, db
):
    emulator, _ = gmail
    settings = gmail_settings.model_copy(update={"provider_attempts": 2, "gmail_batch_size": 20})
    ports = ports_for(settings, publisher, db)
    account = account_for(settings, authority)
    for n in range(100):
        emulator.deliver(OWNER, external_mail(n, "long"))
    emulator.storm(OWNER, 2)  # the job's first call is refused as often as it tries

    stopped = await run_oauth_mail_job(account, ports)

    assert stopped.throttled
    assert stopped.more
    assert [r.reason for r in await requests(settings)] == ["continuation"]
    assert (await statuses(settings))[-1].state is SyncState.IMPORTING
    while (outcome := await run_oauth_mail_job(account, ports)).more:
        pass
    assert outcome.failed is None
    keys = Counter(m.item_id for m in await published(settings))
    assert len(keys) == 100
    assert set(keys.values()) == {1}


async def test_a_mid_import_batch_throttle_resumes_at_the_next_unpublished_message(
    gmail, authority, gmail_settings, publisher, db
):
    emulator, _ = gmail
    settings = gmail_settings.model_copy(update={"provider_attempts": 2, "gmail_batch_size": 10})
    ports = ports_for(settings, publisher, db)
    account = account_for(settings, authority)
    for n in range(50):
        emulator.deliver(OWNER, external_mail(n, "mid"))
    # Let profile, labels, list and two batches (20 gets) through, then refuse long
    # enough that both attempts of every batch in flight (fetched ahead) are refused.
    original = emulator._spend
    calls = {"n": 0}

    def spend(box, units, now=None):
        calls["n"] += 1
        if 23 < calls["n"] <= 23 + 100:
            box.storm = 1
        return original(box, units, now)

    emulator._spend = spend  # type: ignore[method-assign]
    stopped = await run_oauth_mail_job(account, ports)
    assert stopped.throttled
    cursor = await ports.cursors.load(account.account_id, "gmail")
    assert cursor is not None
    assert cursor.phase is Phase.FULL
    # Batches are fetched ahead, so which ones got through depends on arrival order; the
    # cursor is past exactly the published ones (chunks are published in order).
    assert cursor.offset < 50
    assert cursor.offset % 10 == 0
    so_far = Counter(m.item_id for m in await published(settings))
    assert sum(so_far.values()) == len(so_far) == cursor.offset

    while (await run_oauth_mail_job(account, ports)).more:
        pass
    keys = Counter(m.item_id for m in await published(settings))
    assert len(keys) == 50
    assert set(keys.values()) == {1}


async def test_403_user_rate_limit_exceeded_is_honoured_like_a_429(
    gmail, authority, gmail_settings, ports
):
    emulator, _ = gmail
    emulator.throttle_status = 403
    for n in range(30):
        emulator.deliver(OWNER, external_mail(n, "forbidden"))
    emulator.storm(OWNER, 4)
    result = await run_oauth_mail_job(account_for(gmail_settings, authority), ports)
    assert result.failed is None
    assert emulator.throttled >= 4
    assert len(await published(gmail_settings)) == 30


async def test_an_access_token_expiring_mid_import_is_refreshed_and_nothing_is_lost(
    gmail, authority, gmail_settings, ports
):
    emulator, _ = gmail
    for n in range(160):
        emulator.deliver(OWNER, external_mail(n, "expiry"))
    emulator.expire_tokens_after_gets = 75
    result = await run_oauth_mail_job(account_for(gmail_settings, authority), ports)
    assert result.failed is None
    assert authority.refreshes >= 2
    keys = Counter(m.item_id for m in await published(gmail_settings))
    assert len(keys) == 160
    assert set(keys.values()) == {1}


async def test_revoked_consent_fails_with_re_authorise_and_stops_without_retrying(
    gmail, authority, gmail_settings, ports
):
    emulator, _ = gmail
    emulator.deliver(OWNER, external_mail(0, "never"))
    account = account_for(gmail_settings, authority)
    authority.revoke(OWNER)

    result = await run_oauth_mail_job(account, ports)

    assert result.failed is not None
    assert result.failed.kind is ProblemKind.CONSENT
    last = (await statuses(gmail_settings))[-1]
    assert last.state is SyncState.FAILING
    assert last.remedy == "Re-authorise this account"
    assert await published(gmail_settings) == []
    assert await requests(gmail_settings) == []  # no continuation: it waits for the owner
    assert authority.refreshes == 0


async def test_full_visibility_fetches_the_raw_message_and_reads_its_body(
    gmail, authority, gmail_settings, ports
):
    emulator, _ = gmail
    emulator.deliver(OWNER, external_mail(7, "body"))
    account = account_for(gmail_settings, authority, MailSettings(visibility=MailVisibility.FULL))
    await run_oauth_mail_job(account, ports)
    (message,) = await published(gmail_settings)
    assert message.body_text == "Hello 7"
    assert message.sender is None
    assert message.from_[0].email == "client7@customer.io"


async def test_a_message_with_latin1_headers_does_not_stop_the_mailbox(
    gmail, authority, gmail_settings, ports
):
    emulator, _ = gmail
    latin1 = "Subject: Café crème".encode("latin-1")
    emulator.deliver(OWNER, external_mail(0, "latin1").replace(b"Subject: latin1 0", latin1))
    emulator.deliver(OWNER, external_mail(1, "after"))
    # format=raw: the message's own bytes, read by the one MIME core
    account = account_for(gmail_settings, authority, MailSettings(visibility=MailVisibility.FULL))

    result = await run_oauth_mail_job(account, ports)

    assert result.failed is None
    subjects = sorted(m.subject or "" for m in await published(gmail_settings))
    assert subjects == ["Café crème", "after 1"]
    assert (await statuses(gmail_settings))[-1].state is SyncState.UP_TO_DATE
