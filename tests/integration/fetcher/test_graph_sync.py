"""Microsoft Graph mail sync against the Graph emulator (TLS, msal), real Kafka and FerretDB."""

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
from fetcher.adapters.oauth_tokens import COLLECTION as ROTATED
from fetcher.adapters.oauth_tokens import RotatedTokens
from fetcher.adapters.passwords import SealedPasswords
from fetcher.adapters.provider_cursors import MongoProviderCursorStore
from fetcher.domain.problems import ProblemKind
from fetcher.providers.base import Phase
from fetcher.providers.factory import ProviderFactory
from fetcher.settings import FetcherSettings
from fetcher.sync_oauth import OAuthMailPorts, run_oauth_mail_job
from tests.emulators.graph import GraphEmulator
from tests.emulators.oauth import TokenAuthority
from tests.emulators.server import EmulatorServer

from .conftest import read_topic
from .providers import CLIENT_ID, CLIENT_SECRET, graph_message, oauth_account

pytestmark = pytest.mark.integration
OWNER = "owner@acme.test"


@pytest.fixture
def authority() -> TokenAuthority:
    return TokenAuthority(CLIENT_ID, CLIENT_SECRET)


@pytest.fixture
def graph(authority: TokenAuthority, tls: tuple[str, str]) -> Iterator[GraphEmulator]:
    emulator = GraphEmulator(authority, retry_after_s=0.05)
    with EmulatorServer(emulator, certfile=tls[1], keyfile=tls[1]) as server:
        emulator.base_url = server.base_url
        yield emulator


@pytest.fixture
def graph_settings(
    settings: FetcherSettings, graph: GraphEmulator, tls: tuple[str, str]
) -> FetcherSettings:
    return settings.model_copy(
        update={
            "microsoft_client_id": CLIENT_ID,
            "microsoft_client_secret": SecretStr(CLIENT_SECRET),
            "microsoft_authority": f"{graph.base_url}/common",
            "graph_api_url": f"{graph.base_url}/v1.0",
            "provider_ca_file": tls[0],
            "provider_max_wait_s": 0.5,
            "max_messages_per_job": 5000,
        }
    )


def ports_for(
    settings: FetcherSettings, publisher: KafkaPublisher, db: AsyncDatabase[Document]
) -> OAuthMailPorts:
    factory = ProviderFactory(settings, SealedPasswords(SecretBox(settings.secrets_key)))
    return OAuthMailPorts(
        settings=settings,
        open_provider=factory.open_mail,
        cursors=MongoProviderCursorStore(db),
        publish=publisher,
    )


@pytest.fixture
def ports(
    graph_settings: FetcherSettings, publisher: KafkaPublisher, db: AsyncDatabase[Document]
) -> OAuthMailPorts:
    return ports_for(graph_settings, publisher, db)


def account_for(settings: FetcherSettings, authority: TokenAuthority, mail=None):
    box = SecretBox(settings.secrets_key)
    return oauth_account(box, OAuthProvider.MICROSOFT, OWNER, authority.consent(OWNER), mail)


async def published(settings: FetcherSettings) -> list[RawMessage]:
    records = await read_topic(settings.kafka_bootstrap, settings.topics.mail_raw)
    return [RawMessage.model_validate_json(value) for _, value in records]


async def statuses(settings: FetcherSettings) -> list[SyncStatusChanged]:
    records = await read_topic(settings.kafka_bootstrap, settings.topics.sync_status)
    return [SyncStatusChanged.model_validate_json(value) for _, value in records]


async def test_a_first_import_follows_next_links_in_inbox_and_sent_items_in_batches(
    graph, authority, graph_settings, ports
):
    for n in range(230):
        graph.deliver(OWNER, "inbox", graph_message(n, "inbox"))
    for n in range(4):
        graph.deliver(OWNER, "sentitems", graph_message(n, "sent", sent=True))
    graph.deliver(OWNER, "junkemail", graph_message(0, "junk"))

    result = await run_oauth_mail_job(account_for(graph_settings, authority), ports)

    assert result.failed is None
    assert not result.more
    messages = await published(graph_settings)
    assert Counter(m.subject.split()[0] for m in messages) == {"inbox": 230, "sent": 4}
    assert len({m.item_id for m in messages}) == 234
    sent = [m for m in messages if m.subject.startswith("sent")]
    assert {m.folder_role for m in sent} == {FolderRole.SENT}
    assert sent[0].from_[0].email == "owner@acme.test"
    assert all(m.provider == "graph" for m in messages)
    box = graph.mailbox(OWNER)
    assert max(box.gets.values()) == 1
    assert box.calls["delta"] >= 4  # 230 ids at 100 a page, then sent items
    assert box.max_active <= 4
    cursor = await ports.cursors.load(f"acc-{OWNER}", "inbox")
    assert cursor is not None
    assert cursor.phase is Phase.INCREMENTAL


async def test_the_stored_delta_link_gives_only_new_messages(
    graph, authority, graph_settings, ports
):
    account = account_for(graph_settings, authority)
    for n in range(3):
        graph.deliver(OWNER, "inbox", graph_message(n, "old"))
    await run_oauth_mail_job(account, ports)
    graph.deliver(OWNER, "inbox", graph_message(0, "new"))
    graph.deliver(OWNER, "sentitems", graph_message(1, "new", sent=True))

    await run_oauth_mail_job(account, ports)

    subjects = sorted(m.subject or "" for m in await published(graph_settings))
    assert subjects == ["new 0", "new 1", "old 0", "old 1", "old 2"]


async def test_a_forgotten_delta_token_resyncs_the_folder_without_a_new_item(
    graph, authority, graph_settings, ports
):
    account = account_for(graph_settings, authority)
    for n in range(3):
        graph.deliver(OWNER, "inbox", graph_message(n, "kept"))
    await run_oauth_mail_job(account, ports)
    graph.forget_delta_tokens(OWNER)
    graph.deliver(OWNER, "inbox", graph_message(5, "after"))

    result = await run_oauth_mail_job(account, ports)

    assert result.resyncs == 2  # inbox and sent items each start over
    messages = await published(graph_settings)
    assert len({m.item_id for m in messages}) == 4


async def test_429s_inside_batches_are_retried_after_retry_after_nothing_lost_or_repeated(
    graph, authority, graph_settings, ports
):
    for n in range(120):
        graph.deliver(OWNER, "inbox", graph_message(n, "storm"))
    account = account_for(graph_settings, authority)
    graph.storm(OWNER, 30)

    while (result := await run_oauth_mail_job(account, ports)).more:
        pass

    assert result.failed is None
    assert graph.throttled >= 30
    keys = Counter(m.item_id for m in await published(graph_settings))
    assert len(keys) == 120
    assert set(keys.values()) == {1}
    assert graph.mailbox(OWNER).max_active <= 4


async def test_an_access_token_expiring_mid_import_is_renewed_with_msal(
    graph, authority, graph_settings, ports
):
    for n in range(60):
        graph.deliver(OWNER, "inbox", graph_message(n, "expiry"))
    account = account_for(graph_settings, authority)
    original = graph._get
    served = {"n": 0}

    def get_then_expire(box, message_id, q):
        served["n"] += 1
        if served["n"] == 30:
            authority.expire_access_tokens()
        return original(box, message_id, q)

    graph._get = get_then_expire  # type: ignore[method-assign]
    result = await run_oauth_mail_job(account, ports)

    assert result.failed is None
    assert authority.refreshes >= 2
    keys = Counter(m.item_id for m in await published(graph_settings))
    assert len(keys) == 60
    assert set(keys.values()) == {1}


async def test_revoked_consent_fails_with_re_authorise(graph, authority, graph_settings, ports):
    graph.deliver(OWNER, "inbox", graph_message(0, "never"))
    account = account_for(graph_settings, authority)
    authority.revoke(OWNER)

    result = await run_oauth_mail_job(account, ports)

    assert result.failed is not None
    assert result.failed.kind is ProblemKind.CONSENT
    last = (await statuses(graph_settings))[-1]
    assert last.state is SyncState.FAILING
    assert last.remedy == "Re-authorise this account"
    assert await published(graph_settings) == []
    requests = await read_topic(graph_settings.kafka_bootstrap, graph_settings.topics.sync_requests)
    assert [SyncRequested.model_validate_json(v) for _, v in requests] == []


async def test_full_visibility_reads_the_text_body(graph, authority, graph_settings, ports):
    graph.deliver(OWNER, "inbox", graph_message(3, "body"))
    account = account_for(graph_settings, authority, MailSettings(visibility=MailVisibility.FULL))
    await run_oauth_mail_job(account, ports)
    (message,) = await published(graph_settings)
    assert message.body_text == "Hello 3"


async def test_a_rotated_refresh_token_is_kept_and_used_by_the_next_job(
    graph, authority, graph_settings, publisher, db
):
    authority.rotate_refresh_tokens = True  # and the token just used stops working
    graph.deliver(OWNER, "inbox", graph_message(0, "rotate"))
    account = account_for(graph_settings, authority)
    box = SecretBox(graph_settings.secrets_key)

    def restarted() -> OAuthMailPorts:
        """The ports of a fetcher started afresh: nothing kept in memory."""
        factory = ProviderFactory(
            graph_settings, SealedPasswords(box), rotated_tokens=RotatedTokens(db, box)
        )
        return OAuthMailPorts(
            settings=graph_settings,
            open_provider=factory.open_mail,
            cursors=MongoProviderCursorStore(db),
            publish=publisher,
        )

    first = await run_oauth_mail_job(account, restarted())
    graph.deliver(OWNER, "inbox", graph_message(1, "rotate"))
    second = await run_oauth_mail_job(account, restarted())

    assert (first.failed, second.failed) == (None, None)
    assert authority.refreshes == 2  # the consent's token, then the one it rotated to
    assert len(await published(graph_settings)) == 2
    kept = await db[ROTATED].find_one({"_id": account.account_id})
    assert kept is not None
    assert "1//rt-" not in str(kept)  # sealed, never stored in the clear

    await RotatedTokens(db, box).forget(account.account_id)
    third = await run_oauth_mail_job(account, restarted())
    assert third.failed is not None  # the consent's own token was retired at the first use
    assert third.failed.kind is ProblemKind.CONSENT


async def test_half_an_emoji_in_a_subject_does_not_stop_the_mailbox(
    graph, authority, graph_settings, ports
):
    cut = graph_message(0, "cut")
    cut["subject"] = "Offer \ud83d"  # a client cut the title inside an emoji's surrogate pair
    cut.pop("internetMessageHeaders")
    graph.deliver(OWNER, "inbox", cut)
    graph.deliver(OWNER, "inbox", graph_message(1, "after"))

    result = await run_oauth_mail_job(account_for(graph_settings, authority), ports)

    assert result.failed is None
    subjects = sorted(m.subject or "" for m in await published(graph_settings))
    assert subjects == ["Offer \ufffd", "after 1"]
    assert (await statuses(graph_settings))[-1].state is SyncState.UP_TO_DATE
