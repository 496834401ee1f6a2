"""The mail job against real Dovecot, Kafka and FerretDB."""

import json

import pytest

from crm_runtime.secrets import SecretBox
from crm_schemas.ids import copy_key
from crm_schemas.mail import FolderRole, RawMessage
from crm_schemas.sync import SyncRequested, SyncState, SyncStatusChanged
from fetcher.adapters.cursors import COLLECTION
from fetcher.settings import FetcherSettings
from fetcher.sync_mail import MailPorts, run_mail_job

from .conftest import ImapUser, message, read_topic

pytestmark = pytest.mark.integration


def box(settings: FetcherSettings) -> SecretBox:
    return SecretBox(settings.secrets_key)


async def raw_messages(settings: FetcherSettings) -> list[RawMessage]:
    records = await read_topic(settings.kafka_bootstrap, settings.topics.mail_raw)
    return [RawMessage.model_validate_json(value) for _, value in records]


async def statuses(settings: FetcherSettings) -> list[SyncStatusChanged]:
    records = await read_topic(settings.kafka_bootstrap, settings.topics.sync_status)
    return [SyncStatusChanged.model_validate_json(value) for _, value in records]


async def test_inbox_and_sent_are_published_junk_is_not_and_nothing_is_marked_seen(
    settings: FetcherSettings, mail_ports: MailPorts, imap_user: ImapUser
):
    for n in range(2):
        imap_user.append("INBOX", message(n, "inbox"))
    imap_user.append("Sent", message(0, "sent", to="client@customer.io"))
    imap_user.append("Junk", message(0, "junk"))

    await run_mail_job(imap_user.account(box(settings)), mail_ports)

    published = await raw_messages(settings)
    assert sorted(m.subject or "" for m in published) == ["inbox 0", "inbox 1", "sent 0"]
    roles = {m.subject: m.folder_role for m in published}
    assert roles["sent 0"] is FolderRole.SENT
    records = await read_topic(settings.kafka_bootstrap, settings.topics.mail_raw)
    # keyed by copy: item and account (a compacted mail.raw keeps every mailbox's copy)
    assert all(
        key == copy_key(json.loads(value)["item_id"], json.loads(value)["account_id"])
        for key, value in records
    )
    for folder in ("INBOX", "Sent"):
        assert all(b"\\Seen" not in flags for flags in imap_user.flags(folder))
    assert (await statuses(settings))[-1].state is SyncState.UP_TO_DATE


async def test_a_second_job_publishes_nothing_and_then_only_the_new_message(
    settings: FetcherSettings, mail_ports: MailPorts, imap_user: ImapUser
):
    account = imap_user.account(box(settings))
    imap_user.append("INBOX", message(0, "first"))
    await run_mail_job(account, mail_ports)
    assert len(await raw_messages(settings)) == 1

    again = await run_mail_job(account, mail_ports)
    assert again.published == 0
    assert len(await raw_messages(settings)) == 1

    imap_user.append("INBOX", message(1, "later"))
    await run_mail_job(account, mail_ports)
    published = await raw_messages(settings)
    assert [m.subject for m in published].count("later 1") == 1
    assert len(published) == 2


async def test_a_changed_uidvalidity_imports_the_folder_again(
    settings: FetcherSettings, mail_ports: MailPorts, imap_user: ImapUser, db
):
    account = imap_user.account(box(settings))
    imap_user.append("INBOX", message(0, "again"))
    await run_mail_job(account, mail_ports)
    # What a server does when it rebuilds a folder: new UIDVALIDITY, every UID renumbered.
    await db[COLLECTION].update_many({"folder": "INBOX"}, {"$set": {"uidvalidity": 1}})

    result = await run_mail_job(account, mail_ports)

    assert result.published == 1
    published = await raw_messages(settings)
    assert len(published) == 2
    assert published[0].item_id == published[1].item_id  # the same item, nothing duplicated
    cursor = await db[COLLECTION].find_one({"folder": "INBOX"})
    assert cursor is not None
    assert cursor["uidvalidity"] != 1
    assert cursor["last_uid"] == 1


async def test_a_bounded_job_queues_a_continuation_and_records_progress(
    settings: FetcherSettings, mail_ports: MailPorts, imap_user: ImapUser, db
):
    for n in range(5):
        imap_user.append("INBOX", message(n, "bulk"))
    bounded = MailPorts(
        settings.model_copy(update={"max_messages_per_job": 2}),
        mail_ports.open_mailbox,
        mail_ports.cursors,
        mail_ports.publish,
        mail_ports.password,
    )
    account = imap_user.account(box(settings))

    result = await run_mail_job(account, bounded)

    assert result.more
    first = sorted(m.subject or "" for m in await raw_messages(settings))
    assert first == ["bulk 3", "bulk 4"], "a first import starts with the newest messages"
    records = await read_topic(settings.kafka_bootstrap, settings.topics.sync_requests)
    (follow_up,) = [SyncRequested.model_validate_json(value) for _, value in records]
    assert (follow_up.account_id, follow_up.reason) == (account.account_id, "continuation")
    last = (await statuses(settings))[-1]
    assert (last.state, last.done, last.total) == (SyncState.IMPORTING, 2, 5)
    cursor = await db[COLLECTION].find_one({"folder": "INBOX"})
    assert cursor is not None
    assert (cursor["last_uid"], cursor["backfill_below"], cursor["done"]) == (5, 4, 2)
    imap_user.append("INBOX", message(5, "bulk"))  # arrives during the import

    while (await run_mail_job(account, bounded)).more:
        pass
    assert sorted(m.subject or "" for m in await raw_messages(settings)) == [
        f"bulk {n}" for n in range(6)
    ]
    assert (await statuses(settings))[-1].state is SyncState.UP_TO_DATE


async def test_a_wrong_password_is_a_failing_status(
    settings: FetcherSettings, mail_ports: MailPorts, imap_user: ImapUser
):
    account = imap_user.account(box(settings), password="not-the-password")

    result = await run_mail_job(account, mail_ports)

    assert result.failed is not None
    (status,) = await statuses(settings)
    assert status.state is SyncState.FAILING
    assert status.reason == "The IMAP server refused the password"
    assert status.remedy == "Update the password of this account"
    assert await raw_messages(settings) == []


async def test_an_unreachable_server_is_a_failing_status(
    settings: FetcherSettings, mail_ports: MailPorts, imap_user: ImapUser
):
    account = imap_user.account(box(settings))
    assert account.imap is not None
    unreachable = account.model_copy(update={"imap": account.imap.model_copy(update={"port": 1})})

    await run_mail_job(unreachable, mail_ports)

    (status,) = await statuses(settings)
    assert status.state is SyncState.FAILING
    assert status.reason == "The IMAP server could not be reached"


async def test_an_unchanged_folder_is_skipped_by_its_highestmodseq_and_new_mail_still_comes(
    settings: FetcherSettings, mail_ports: MailPorts, imap_user: ImapUser, db
):
    account = imap_user.account(box(settings))
    imap_user.append("INBOX", message(0, "first"))
    await run_mail_job(account, mail_ports)
    cursor = await db[COLLECTION].find_one({"folder": "INBOX"})
    assert cursor is not None
    assert cursor["highestmodseq"] > 0, "Dovecot offers CONDSTORE: the modseq is kept"

    quiet = await run_mail_job(account, mail_ports)
    assert quiet.published == 0
    imap_user.append("INBOX", message(1, "second"))
    await run_mail_job(account, mail_ports)

    assert sorted(m.subject or "" for m in await raw_messages(settings)) == ["first 0", "second 1"]
    after = await db[COLLECTION].find_one({"folder": "INBOX"})
    assert after is not None
    assert after["highestmodseq"] > cursor["highestmodseq"]
