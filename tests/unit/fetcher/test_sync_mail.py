"""One bounded mail job against in-memory ports: what is published, cursored and reported."""

import pytest

from crm_schemas.config import AccountConfigured, ImapConnection, MailSettings
from crm_schemas.ids import copy_key
from crm_schemas.mail import FolderRole, RawMessage
from crm_schemas.outcomes import DropReason, ItemDropped
from crm_schemas.sync import SyncKind, SyncRequested, SyncState, SyncStatusChanged
from fetcher.adapters.memory import (
    InMemoryCursorStore,
    InMemoryMailbox,
    MemoryFolder,
    PlainPasswords,
    RecordingPublisher,
)
from fetcher.domain.model import FolderCursor
from fetcher.settings import FetcherSettings
from fetcher.sync_mail import MailPorts, run_mail_job

FAKE_PASSWORD = "secret"  # what the in-memory fakes accept
SETTINGS = FetcherSettings(topic_prefix="t", batch_size=2, max_messages_per_job=1000)
TOPICS = SETTINGS.topics


def account(password: str = FAKE_PASSWORD, **mail: object) -> AccountConfigured:
    return AccountConfigured(
        account_id="acc1",
        workspace_id="ws1",
        owner_member_id="m1",
        email="owner@acme.test",
        imap=ImapConnection(
            host="imap.test", port=993, username="owner", password_encrypted=password
        ),
        mail=MailSettings(**mail),  # type: ignore[arg-type]
    )


def mail(n: int, folder: str = "in") -> bytes:
    return (
        f"From: Sender {n} <s{n}@customer.io>\r\nTo: owner@acme.test\r\n"
        f"Subject: {folder} {n}\r\nMessage-ID: <{folder}-{n}@customer.io>\r\n"
        f"Date: Tue, 05 Mar 2024 10:15:00 +0000\r\n\r\nBody {n}\r\n"
    ).encode()


@pytest.fixture
def mailbox() -> InMemoryMailbox:
    box = InMemoryMailbox(
        folders_by_name={
            "INBOX": MemoryFolder(uidvalidity=10),
            "Sent": MemoryFolder(frozenset({"\\Sent"}), uidvalidity=20),
            "Junk": MemoryFolder(frozenset({"\\Junk"}), uidvalidity=30),
        }
    )
    for n in range(3):
        box.folders_by_name["INBOX"].append(mail(n, "in"))
    box.folders_by_name["Sent"].append(mail(0, "sent"))
    box.folders_by_name["Junk"].append(mail(0, "junk"))
    return box


@pytest.fixture
def cursors() -> InMemoryCursorStore:
    return InMemoryCursorStore()


@pytest.fixture
def published() -> RecordingPublisher:
    return RecordingPublisher()


def ports(mailbox, cursors, published, settings: FetcherSettings = SETTINGS) -> MailPorts:
    return MailPorts(settings, mailbox.open, cursors, published, PlainPasswords())


def subjects(published: RecordingPublisher) -> list[str | None]:
    return [m.subject for m in published.on(TOPICS.mail_raw) if isinstance(m, RawMessage)]


def statuses(published: RecordingPublisher) -> list[SyncStatusChanged]:
    return [s for s in published.on(TOPICS.sync_status) if isinstance(s, SyncStatusChanged)]


def by_subject(published: RecordingPublisher, subject: str) -> RawMessage:
    [found] = [m for m in published.on(TOPICS.mail_raw) if getattr(m, "subject", "") == subject]
    assert isinstance(found, RawMessage)
    return found


async def test_inbox_and_sent_are_published_and_junk_is_not(mailbox, cursors, published):
    await run_mail_job(account(), ports(mailbox, cursors, published))
    assert sorted(subjects(published)) == ["in 0", "in 1", "in 2", "sent 0"]  # type: ignore[type-var]


async def test_a_first_import_goes_newest_first_in_batches(mailbox, cursors, published):
    await run_mail_job(account(), ports(mailbox, cursors, published))
    # batches of 2 from the highest UID down; a batch is fetched in UID order
    assert subjects(published) == ["in 1", "in 2", "in 0", "sent 0"]


async def test_an_interrupted_newest_first_import_resumes_losing_and_repeating_nothing(
    mailbox, cursors, published
):
    inbox = mailbox.folders_by_name["INBOX"]
    for n in range(3, 9):
        inbox.append(mail(n, "in"))
    bounded = SETTINGS.model_copy(update={"max_messages_per_job": 3})
    await run_mail_job(account(), ports(mailbox, cursors, published, bounded))
    assert sorted(subjects(published)) == ["in 6", "in 7", "in 8"]  # type: ignore[type-var]
    inbox.append(mail(9, "in"))  # new mail during the import comes first in the next job
    while (await run_mail_job(account(), ports(mailbox, cursors, published, bounded))).more:
        pass

    got = subjects(published)
    assert sorted(got) == sorted([f"in {n}" for n in range(10)] + ["sent 0"])  # type: ignore[type-var]
    assert got[3] == "in 9"
    assert cursors.cursors[("acc1", "INBOX")] == FolderCursor(
        uidvalidity=10, last_uid=10, done=10, backfill_below=1
    )


async def test_messages_are_keyed_by_their_copy_with_folder_and_uid(mailbox, cursors, published):
    await run_mail_job(account(), ports(mailbox, cursors, published))
    first = by_subject(published, "in 0")
    # item and account: a compacted mail.raw keeps each mailbox's copy of a message
    assert (TOPICS.mail_raw, copy_key(first.item_id, first.account_id), first) in published.sent
    assert first.provider_ref == "INBOX/10/1"
    assert first.folder_role is FolderRole.INBOX


async def test_the_body_travels_only_when_visibility_is_full(mailbox, cursors, published):
    await run_mail_job(account(visibility="full"), ports(mailbox, cursors, published))
    assert by_subject(published, "in 0").body_text == "Body 0"


async def test_without_full_visibility_no_body_travels(mailbox, cursors, published):
    await run_mail_job(account(visibility="subject"), ports(mailbox, cursors, published))
    assert all(m.body_text is None for m in published.on(TOPICS.mail_raw))  # type: ignore[attr-defined]


async def test_a_second_job_publishes_nothing_new(mailbox, cursors, published):
    await run_mail_job(account(), ports(mailbox, cursors, published))
    again = RecordingPublisher()
    result = await run_mail_job(account(), ports(mailbox, cursors, again))
    assert subjects(again) == []
    assert result.published == 0
    assert statuses(again)[-1].state is SyncState.UP_TO_DATE


async def test_a_new_message_is_the_only_one_published_next_time(mailbox, cursors, published):
    await run_mail_job(account(), ports(mailbox, cursors, published))
    mailbox.folders_by_name["INBOX"].append(mail(7, "in"))
    again = RecordingPublisher()
    await run_mail_job(account(), ports(mailbox, cursors, again))
    assert subjects(again) == ["in 7"]


async def test_cursors_record_uidvalidity_last_uid_and_progress(mailbox, cursors, published):
    await run_mail_job(account(), ports(mailbox, cursors, published))
    assert cursors.cursors[("acc1", "INBOX")] == FolderCursor(
        uidvalidity=10, last_uid=3, done=3, backfill_below=1
    )
    assert cursors.cursors[("acc1", "Sent")] == FolderCursor(
        uidvalidity=20, last_uid=1, done=1, backfill_below=1
    )
    assert ("acc1", "Junk") not in cursors.cursors


async def test_a_changed_uidvalidity_imports_the_folder_again(mailbox, cursors, published):
    await run_mail_job(account(), ports(mailbox, cursors, published))
    mailbox.folders_by_name["INBOX"].uidvalidity = 11
    again = RecordingPublisher()
    await run_mail_job(account(), ports(mailbox, cursors, again))
    assert sorted(subjects(again)) == ["in 0", "in 1", "in 2"]  # type: ignore[type-var]
    assert cursors.cursors[("acc1", "INBOX")].uidvalidity == 11


async def test_a_big_import_is_bounded_and_continues_in_a_new_job(mailbox, cursors, published):
    for n in range(3, 5):
        mailbox.folders_by_name["INBOX"].append(mail(n, "in"))
    bounded = SETTINGS.model_copy(update={"max_messages_per_job": 2})
    result = await run_mail_job(account(), ports(mailbox, cursors, published, bounded))
    assert subjects(published) == ["in 3", "in 4"]  # the newest first
    assert result.more
    (follow_up,) = published.on(TOPICS.sync_requests)
    assert isinstance(follow_up, SyncRequested)
    assert (follow_up.account_id, follow_up.kind, follow_up.reason) == (
        "acc1",
        SyncKind.MAIL,
        "continuation",
    )
    last = statuses(published)[-1]
    assert (last.state, last.done, last.total) == (SyncState.IMPORTING, 2, 6)


async def test_a_chain_of_bounded_jobs_imports_everything_once(mailbox, cursors, published):
    bounded = SETTINGS.model_copy(update={"max_messages_per_job": 2})
    for _ in range(5):
        await run_mail_job(account(), ports(mailbox, cursors, published, bounded))
    assert sorted(subjects(published)) == ["in 0", "in 1", "in 2", "sent 0"]  # type: ignore[type-var]
    assert len(published.on(TOPICS.sync_requests)) == 1
    last = statuses(published)[-1]
    assert (last.state, last.done, last.total) == (SyncState.UP_TO_DATE, 4, 4)


async def test_progress_is_reported_per_batch(mailbox, cursors, published):
    await run_mail_job(account(), ports(mailbox, cursors, published))
    progress = [(s.state, s.done, s.total) for s in statuses(published)]
    assert progress == [
        (SyncState.IMPORTING, 2, 4),
        (SyncState.IMPORTING, 3, 4),
        (SyncState.IMPORTING, 4, 4),
        (SyncState.UP_TO_DATE, 4, 4),
    ]


async def test_a_wrong_password_is_a_failing_status_with_a_remedy(mailbox, cursors, published):
    result = await run_mail_job(account(password="wrong"), ports(mailbox, cursors, published))
    assert result.failed is not None
    (status,) = statuses(published)
    assert status.state is SyncState.FAILING
    assert status.reason == "The IMAP server refused the password"
    assert status.remedy == "Update the password of this account"
    assert subjects(published) == []


async def test_an_included_junk_folder_is_still_not_synced(mailbox, cursors, published):
    # the matcher would drop every message of it (crm_schemas.folders): none is fetched
    await run_mail_job(account(include_folders=("Junk",)), ports(mailbox, cursors, published))
    assert "junk 0" not in subjects(published)
    assert "in 0" in subjects(published)


async def test_an_excluded_sent_folder_is_not_synced(mailbox, cursors, published):
    await run_mail_job(account(exclude_folders=("Sent",)), ports(mailbox, cursors, published))
    assert sorted(subjects(published)) == ["in 0", "in 1", "in 2"]  # type: ignore[type-var]


async def test_a_folder_whose_highestmodseq_did_not_change_is_not_even_searched(
    mailbox, cursors, published
):
    inbox = mailbox.folders_by_name["INBOX"]
    inbox.highestmodseq = 7  # a CONDSTORE server
    await run_mail_job(account(), ports(mailbox, cursors, published))
    assert cursors.cursors[("acc1", "INBOX")].highestmodseq == 7
    searched = inbox.searches

    await run_mail_job(account(), ports(mailbox, cursors, RecordingPublisher()))
    assert inbox.searches == searched

    inbox.append(mail(3, "in"))  # raises the modseq
    again = RecordingPublisher()
    await run_mail_job(account(), ports(mailbox, cursors, again))
    assert subjects(again) == ["in 3"]
    assert cursors.cursors[("acc1", "INBOX")].highestmodseq == 8


async def test_without_condstore_every_folder_is_searched_each_time(mailbox, cursors, published):
    inbox = mailbox.folders_by_name["INBOX"]
    await run_mail_job(account(), ports(mailbox, cursors, published))
    searched = inbox.searches
    await run_mail_job(account(), ports(mailbox, cursors, RecordingPublisher()))
    assert inbox.searches == searched + 1


async def test_a_message_that_cannot_travel_is_dropped_as_unreadable_and_the_job_moves_on(
    mailbox, cursors, published
):
    # 50 references of 30 kB each (what a message keeps) would make a 1.5 MB record
    ids = " ".join(f"<{'r' * 30_000}-{n}@customer.io>" for n in range(60))
    huge = mail(7).replace(b"\r\n\r\n", f"\r\nReferences: {ids}\r\n\r\n".encode(), 1)
    mailbox.folders_by_name["INBOX"].append(huge)
    mailbox.folders_by_name["INBOX"].append(mail(8))

    result = await run_mail_job(account(), ports(mailbox, cursors, published))

    assert result.failed is None
    assert (result.published, result.unreadable) == (5, 1)
    assert "in 8" in subjects(published)
    (dropped,) = published.on(TOPICS.dropped)
    assert isinstance(dropped, ItemDropped)
    assert (dropped.reason, dropped.natural_id) == (DropReason.UNREADABLE, "in-7@customer.io")
    assert "r" * 100 not in dropped.model_dump_json()  # what was wrong, never the content
    assert statuses(published)[-1].state is SyncState.UP_TO_DATE


async def test_a_latin1_subject_is_read_and_published(mailbox, cursors, published):
    mailbox.folders_by_name["INBOX"].append(
        mail(9).replace(b"Subject: in 9", "Subject: Café crème".encode("latin-1"))
    )
    await run_mail_job(account(), ports(mailbox, cursors, published))
    assert "Café crème" in subjects(published)
    assert published.on(TOPICS.dropped) == []
