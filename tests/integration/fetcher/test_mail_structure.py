"""The mail job on real Dovecot: structure without content, moved messages, real-world mail."""

import base64
from pathlib import Path

import pytest

from crm_runtime.secrets import SecretBox
from crm_schemas.config import MailSettings, MailVisibility
from crm_schemas.ids import copy_key, message_item_id
from crm_schemas.mail import RawMessage
from fetcher.settings import FetcherSettings
from fetcher.sync_mail import MailPorts, run_mail_job

from .conftest import ImapUser, read_topic

pytestmark = pytest.mark.integration

CPYTHON_MAIL = Path(__import__("email").__file__).parent.parent / "test/test_email/data"


async def raw_messages(settings: FetcherSettings) -> list[RawMessage]:
    records = await read_topic(settings.kafka_bootstrap, settings.topics.mail_raw, 60)
    return [RawMessage.model_validate_json(value) for _, value in records]


def full(imap_user: ImapUser, settings: FetcherSettings):
    account = imap_user.account(SecretBox(settings.secrets_key))
    return account.model_copy(update={"mail": MailSettings(visibility=MailVisibility.FULL)})


def with_attachment(size: int) -> bytes:
    content = base64.encodebytes(b"\x00\x01" * (size // 2))
    return (
        b"From: Jane <jane@client.test>\nTo: owner@acme.test\nSubject: the deck\n"
        b"Message-ID: <deck-25mb@client.test>\nDate: Tue, 05 Mar 2024 10:00:00 +0100\n"
        b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"\n\n'
        b"--b1\nContent-Type: text/plain; charset=utf-8\n\nSee the deck attached.\n"
        b'--b1\nContent-Type: application/pdf; name="deck.pdf"\n'
        b'Content-Disposition: attachment; filename="=?utf-8?q?d=C3=A9ck.pdf?="\n'
        b"Content-Transfer-Encoding: base64\n\n" + content + b"--b1--\n"
    )


INVITE = b"""From: Jane <jane@client.test>
To: owner@acme.test
Subject: Invitation: Kick-off
Message-ID: <invite-1@client.test>
Date: Tue, 05 Mar 2024 10:00:00 +0100
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b2"

--b2
Content-Type: text/plain; charset=utf-8

You are invited.
--b2
Content-Type: text/calendar; charset=utf-8; method=REQUEST

BEGIN:VCALENDAR
METHOD:REQUEST
END:VCALENDAR
--b2--
"""


async def test_a_25_mb_attachment_travels_as_metadata_and_its_content_is_never_fetched(
    settings: FetcherSettings, mail_ports: MailPorts, imap_user: ImapUser
) -> None:
    imap_user.append("INBOX", with_attachment(25 * 1024 * 1024))

    await run_mail_job(full(imap_user, settings), mail_ports)

    (message,) = await raw_messages(settings)
    (attachment,) = message.attachments
    assert attachment.filename == "déck.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.size is not None
    assert abs(attachment.size - 25 * 1024 * 1024) < 64 * 1024
    assert message.body_text == "See the deck attached."


async def test_an_invitation_is_recognised_from_the_structure_without_the_body(
    settings: FetcherSettings, mail_ports: MailPorts, imap_user: ImapUser
) -> None:
    imap_user.append("INBOX", INVITE)

    await run_mail_job(imap_user.account(SecretBox(settings.secrets_key)), mail_ports)

    (message,) = await raw_messages(settings)
    assert message.calendar_method == "REQUEST"
    assert message.body_text is None
    assert message.attachments == ()


async def test_a_message_moved_between_two_synced_folders_is_one_message(
    settings: FetcherSettings, mail_ports: MailPorts, imap_user: ImapUser
) -> None:
    raw = b"From: jane@client.test\nTo: owner@acme.test\nMessage-ID: <moved-1@client.test>\n\nhi\n"
    account = imap_user.account(SecretBox(settings.secrets_key))
    imap_user.append("INBOX", raw)
    await run_mail_job(account, mail_ports)
    client = imap_user.session()
    try:
        client.create("Projects")
        client.select("INBOX")
        client.copy("1", "Projects")
        client.store("1", "+FLAGS", "\\Deleted")
        client.expunge()
    finally:
        client.logout()
    synced = account.model_copy(update={"mail": MailSettings(include_folders=("Projects",))})

    await run_mail_job(synced, mail_ports)

    records = await read_topic(settings.kafka_bootstrap, settings.topics.mail_raw)
    item = message_item_id(account.workspace_id, "moved-1@client.test")
    assert {key for key, _ in records} == {copy_key(item, account.account_id)}
    folders = [RawMessage.model_validate_json(v).folder for _, v in records]
    assert folders == ["INBOX", "Projects"]


@pytest.mark.skipif(not CPYTHON_MAIL.is_dir(), reason="CPython's test data is not installed")
async def test_real_world_mail_from_cpythons_test_suite_is_synced_without_a_crash(
    settings: FetcherSettings, mail_ports: MailPorts, imap_user: ImapUser
) -> None:
    corpus = sorted(CPYTHON_MAIL.glob("msg_*.txt"))
    for path in corpus:
        imap_user.append("INBOX", path.read_bytes().replace(b"\r\n", b"\n"))

    result = await run_mail_job(full(imap_user, settings), mail_ports)

    published = await raw_messages(settings)
    assert result.failed is None
    assert result.done == len(corpus) > 40
    # Messages sharing a Message-ID are one item; every other one is published.
    assert len({m.item_id for m in published}) == len({m.message_id for m in published})
    assert len(published) == len(corpus)
    assert all(m.message_id and m.sent_at for m in published)
