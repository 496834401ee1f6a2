"""The mail job against a real Dovecot mailbox holding the poison corpus among good mail:
no message's content stops the mailbox (issue 18)."""

from datetime import UTC, datetime

import pytest

from crm_runtime.secrets import SecretBox
from crm_schemas.config import MailSettings, MailVisibility
from crm_schemas.mail import RawMessage
from crm_schemas.outcomes import DropReason, ItemDropped
from crm_schemas.sync import SyncState, SyncStatusChanged
from fetcher.domain.addresses import MAX_ADDRESSES_PER_HEADER
from fetcher.domain.mime import fetched_message_id
from fetcher.domain.model import FetchedMessage
from fetcher.settings import FetcherSettings
from fetcher.sync_mail import MailPorts, run_mail_job
from tests.fixtures.poison import RECIPIENTS, corpus, good_message

from .conftest import ImapUser, read_topic

pytestmark = pytest.mark.integration

RECEIVED = datetime(2024, 3, 6, 9, 0, tzinfo=UTC)  # the INTERNALDATE every message gets


async def published(settings: FetcherSettings) -> dict[str, RawMessage]:
    records = await read_topic(settings.kafka_bootstrap, settings.topics.mail_raw, 60)
    messages = (RawMessage.model_validate_json(value) for _, value in records)
    return {m.message_id: m for m in messages}


async def dropped(settings: FetcherSettings) -> dict[str, ItemDropped]:
    records = await read_topic(settings.kafka_bootstrap, settings.topics.dropped)
    drops = (ItemDropped.model_validate_json(value) for _, value in records)
    return {d.natural_id: d for d in drops}


async def last_status(settings: FetcherSettings) -> SyncStatusChanged:
    records = await read_topic(settings.kafka_bootstrap, settings.topics.sync_status)
    return SyncStatusChanged.model_validate_json(records[-1][1])


async def sync_until_done(account, ports: MailPorts) -> None:
    for _ in range(10):
        result = await run_mail_job(account, ports)
        assert result.failed is None
        if not result.more:
            return
    raise AssertionError("the mailbox never finished importing")


@pytest.mark.parametrize("visibility", [MailVisibility.SUBJECT, MailVisibility.FULL])
async def test_poison_among_good_mail_never_stops_the_mailbox(
    settings: FetcherSettings,
    mail_ports: MailPorts,
    imap_user: ImapUser,
    unique: str,
    visibility: MailVisibility,
):
    owner = imap_user.username
    poison = corpus(unique, owner)
    goods = [good_message(unique, n, owner) for n in range(len(poison) // 3 + 2)]
    for n, item in enumerate(poison):  # good mail before, between and after the poison
        if n % 3 == 0:
            imap_user.append_exactly("INBOX", goods[n // 3][1], RECEIVED)
        imap_user.append_exactly("INBOX", item.raw, RECEIVED)
    imap_user.append_exactly("INBOX", goods[-1][1], RECEIVED)
    account = imap_user.account(SecretBox(settings.secrets_key)).model_copy(
        update={"mail": MailSettings(visibility=visibility)}
    )

    await sync_until_done(account, mail_ports)

    messages, drops = await published(settings), await dropped(settings)
    assert all(message_id in messages for message_id, _ in goods)
    for item in poison:
        message_id = item.message_id or _made_up_id(item.raw)
        if item.reason == DropReason.UNREADABLE:
            assert message_id not in messages, item.name
            assert drops[message_id].reason is DropReason.UNREADABLE
            assert "over the limit" in drops[message_id].detail
        else:  # published; the matcher drops what is group mail or has no participant
            assert message_id in messages, item.name
        if item.expected_subject is not None:
            assert messages[message_id].subject == item.expected_subject, item.name
    assert (await last_status(settings)).state is SyncState.UP_TO_DATE

    named = messages[f"latin1-from-{unique}@customer.test"].from_[0]
    assert named.name == "José Müller"
    listed = messages[f"latin1-list-{unique}@customer.test"].headers["list-id"]
    assert listed == "Café <cafe.customer.test>"
    crowded = messages[f"many-recipients-{unique}@customer.test"]
    assert len(crowded.cc) == MAX_ADDRESSES_PER_HEADER < RECIPIENTS
    assert crowded.truncated == ("cc",)
    for dated in ("no-date", "year-9999"):
        assert messages[f"{dated}-{unique}@customer.test"].sent_at == RECEIVED

    later_id, later = good_message(unique, 99, owner)
    imap_user.append_exactly("INBOX", later, RECEIVED)
    await sync_until_done(account, mail_ports)
    assert later_id in await published(settings)
    assert (await last_status(settings)).state is SyncState.UP_TO_DATE


def _made_up_id(raw: bytes) -> str:
    """The Message-ID the fetcher gives a message that has none."""
    return fetched_message_id(FetchedMessage(0, raw, internal_date=RECEIVED))
