"""Mailbox lookups on real servers: the fetcher finds a message in every folder of a
Dovecot mailbox, excluded ones included, and in the Gmail and Graph emulators, and says
for each place whether the account syncs it; the answer goes out on Kafka."""

from functools import partial

import pytest

from crm_runtime.secrets import SecretBox
from crm_schemas.config import AccountConfigured, MailSettings, OAuthProvider
from crm_schemas.lookups import MailboxPlace, MessageLookupAnswered, MessageLookupRequested
from crm_schemas.mail import FolderRole
from fetcher.adapters.imap import open_imap
from fetcher.adapters.kafka import KafkaPublisher
from fetcher.adapters.passwords import SealedPasswords
from fetcher.lookups import LookupPorts, MessageLookups
from fetcher.providers.factory import ProviderFactory
from fetcher.settings import FetcherSettings
from tests.emulators.gmail import GmailEmulator
from tests.emulators.graph import GraphEmulator
from tests.emulators.oauth import TokenAuthority

from .conftest import ImapUser, read_topic
from .providers import graph_message, oauth_account
from .test_gmail_sync import authority, gmail, gmail_settings  # noqa: F401 - fixtures
from .test_graph_sync import graph, graph_settings  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration
OWNER = "owner@acme.test"


class Accounts:
    """The config projection, holding the accounts a test connected."""

    def __init__(self, *accounts: AccountConfigured) -> None:
        self._accounts = {a.account_id: a for a in accounts}

    async def account(self, account_id: str) -> AccountConfigured | None:
        return self._accounts.get(account_id)


def lookups(
    settings: FetcherSettings, publisher: KafkaPublisher, *accounts: AccountConfigured
) -> MessageLookups:
    secrets = SealedPasswords(SecretBox(settings.secrets_key))
    ports = LookupPorts(
        topics=settings.topics,
        accounts=Accounts(*accounts),
        open_imap=partial(open_imap, timeout_s=10, egress=settings.egress),
        open_api=ProviderFactory(settings, secrets).open_mail,
        password=secrets,
        publish=publisher,
    )
    return MessageLookups(ports)


def ask(account: AccountConfigured, message_id: str, lookup: str) -> MessageLookupRequested:
    return MessageLookupRequested(
        lookup_id=lookup,
        workspace_id=account.workspace_id,
        account_id=account.account_id,
        message_id=message_id,
    )


async def answers(settings: FetcherSettings) -> dict[str, MessageLookupAnswered]:
    records = await read_topic(settings.kafka_bootstrap, settings.topics.lookup_results)
    found = [MessageLookupAnswered.model_validate_json(v) for _, v in records]
    return {a.lookup_id: a for a in found}


def mail(message_id: str) -> bytes:
    return (
        f"From: Jane <jane@client.test>\nTo: {OWNER}\nSubject: Hello\n"
        f"Message-ID: <{message_id}>\nDate: Tue, 05 Mar 2024 10:00:00 +0100\n\nHi\n"
    ).encode()


async def test_an_imap_mailbox_says_which_folders_have_the_message_and_which_it_syncs(
    settings: FetcherSettings, publisher: KafkaPublisher, imap_user: ImapUser, unique: str
) -> None:
    ids = {name: f"{name}-{unique}@client.test" for name in ("inbox", "junk", "private")}
    imap_user.append("INBOX", mail(ids["inbox"]))
    imap_user.append("Junk", mail(ids["junk"]))
    imap_user.append("Private", mail(ids["private"]))
    imap_user.append("INBOX", mail(ids["private"]))  # also filed in the inbox
    box = SecretBox(settings.secrets_key)
    account = imap_user.account(box)
    account = account.model_copy(update={"mail": MailSettings(exclude_folders=("Private",))})
    wrong = imap_user.account(box, password="wrong").model_copy(update={"account_id": "acc-x"})
    answering = lookups(settings, publisher, account, wrong)

    for name, message_id in ids.items():
        await answering.handle(ask(account, message_id, name))
    await answering.handle(ask(account, f"nowhere-{unique}@client.test", "nowhere"))
    await answering.handle(ask(wrong, ids["inbox"], "wrong"))
    await answering.handle(ask(account.model_copy(update={"account_id": "gone"}), "x@y", "gone"))

    got = await answers(settings)
    assert got["inbox"].places == (
        MailboxPlace(folder="INBOX", folder_role=FolderRole.INBOX, synced=True),
    )
    [junk] = got["junk"].places
    assert (junk.folder, junk.synced, junk.not_synced_because) == (
        "Junk",
        False,
        "junk_trash_drafts",
    )
    private = {(p.folder, p.synced, p.not_synced_because) for p in got["private"].places}
    assert private == {("INBOX", True, None), ("Private", False, "excluded")}
    assert (got["nowhere"].state, got["nowhere"].places) == ("not_found", ())
    assert got["wrong"].state == "failed"
    assert got["wrong"].problem == "The IMAP server refused the password"
    assert (got["gone"].state, got["gone"].problem) == ("failed", "This account is not connected")


async def test_gmail_finds_the_message_in_spam_which_is_not_synced(
    gmail: tuple[GmailEmulator, str],  # noqa: F811 - the fixture imported above
    gmail_settings: FetcherSettings,  # noqa: F811 - the fixture imported above
    publisher: KafkaPublisher,
    authority: TokenAuthority,  # noqa: F811 - the fixture imported above
    unique: str,
) -> None:
    emulator, _ = gmail
    spam, kept = f"spam-{unique}@client.test", f"kept-{unique}@client.test"
    emulator.deliver(OWNER, mail(spam), labels=("SPAM",))
    emulator.deliver(OWNER, mail(kept), labels=("INBOX",))
    box = SecretBox(gmail_settings.secrets_key)
    account = oauth_account(box, OAuthProvider.GOOGLE, OWNER, authority.consent(OWNER))
    answering = lookups(gmail_settings, publisher, account)

    await answering.handle(ask(account, spam, "spam"))
    await answering.handle(ask(account, kept, "kept"))
    await answering.handle(ask(account, f"none-{unique}@x.test", "none"))

    got = await answers(gmail_settings)
    assert got["spam"].places == (
        MailboxPlace(
            folder="Spam",
            folder_role=FolderRole.JUNK,
            synced=False,
            not_synced_because="junk_trash_drafts",
        ),
    )
    assert [(p.folder, p.synced) for p in got["kept"].places] == [("INBOX", True)]
    assert got["none"].state == "not_found"


async def test_graph_finds_the_message_in_junk_email_which_is_not_synced(
    graph: GraphEmulator,  # noqa: F811 - the fixture imported above
    graph_settings: FetcherSettings,  # noqa: F811 - the fixture imported above
    publisher: KafkaPublisher,
    authority: TokenAuthority,  # noqa: F811 - the fixture imported above
) -> None:
    junk, kept = graph_message(1, "junk"), graph_message(2, "kept")
    graph.deliver(OWNER, "junkemail", junk)
    graph.deliver(OWNER, "inbox", kept)
    box = SecretBox(graph_settings.secrets_key)
    account = oauth_account(box, OAuthProvider.MICROSOFT, OWNER, authority.consent(OWNER))
    answering = lookups(graph_settings, publisher, account)

    for name, fields in (("junk", junk), ("kept", kept)):
        message_id = str(fields["internetMessageId"]).strip("<>")
        await answering.handle(ask(account, message_id, name))

    got = await answers(graph_settings)
    [place] = got["junk"].places
    assert (place.folder, place.folder_role, place.synced) == ("Junk Email", FolderRole.JUNK, False)
    assert place.not_synced_because == "junk_trash_drafts"
    assert [(p.folder, p.synced) for p in got["kept"].places] == [("Inbox", True)]
