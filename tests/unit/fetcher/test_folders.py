"""Which folders a mailbox syncs, from special-use flags and well-known names."""

import pytest

from crm_schemas.config import MailSettings
from crm_schemas.mail import FolderRole
from fetcher.domain.folders import decode_folder_name, folder_role, folders_to_sync
from fetcher.domain.model import Folder
from matcher.rules.decide import is_excluded_folder

DOVECOT = [
    Folder("Drafts", frozenset({"\\HasNoChildren", "\\Drafts"})),
    Folder("Sent", frozenset({"\\HasNoChildren", "\\Sent"})),
    Folder("Junk", frozenset({"\\Junk"})),
    Folder("Trash", frozenset({"\\Trash"})),
    Folder("Projects/Acme", frozenset({"\\HasNoChildren"})),
    Folder("Personal", frozenset()),
    Folder("INBOX", frozenset({"\\HasNoChildren"})),
]


DEFAULTS = MailSettings()


def names(settings: MailSettings = DEFAULTS, folders=DOVECOT) -> list[str]:
    return [folder.name for folder, _ in folders_to_sync(folders, settings)]


def test_inbox_and_sent_are_synced_by_default_inbox_first():
    assert names() == ["INBOX", "Sent"]


def test_junk_and_trash_are_never_synced_by_default():
    assert "Junk" not in names()
    assert "Trash" not in names()


def test_drafts_are_not_synced_by_default():
    assert "Drafts" not in names()


def test_an_included_custom_folder_is_synced():
    assert names(MailSettings(include_folders=("Projects/Acme",))) == [
        "INBOX",
        "Sent",
        "Projects/Acme",
    ]


def test_an_excluded_folder_wins_over_everything():
    settings = MailSettings(include_folders=("Projects/Acme",), exclude_folders=("Projects/Acme",))
    assert names(settings) == ["INBOX", "Sent"]


def test_even_the_inbox_can_be_excluded():
    assert names(MailSettings(exclude_folders=("inbox",))) == ["Sent"]


def test_folder_names_in_settings_ignore_case():
    assert "Personal" in names(MailSettings(include_folders=("personal",)))


def test_unselectable_folders_are_skipped():
    folders = [*DOVECOT, Folder("[Gmail]", frozenset({"\\Noselect", "\\HasChildren"}))]
    assert "[Gmail]" not in names(MailSettings(include_folders=("[Gmail]",)), folders)


def test_a_special_use_flag_beats_the_name():
    assert folder_role(Folder("Whatever", frozenset({"\\Sent"}))) is FolderRole.SENT


def test_inbox_is_recognised_in_any_case():
    assert folder_role(Folder("Inbox")) is FolderRole.INBOX


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("Sent Items", FolderRole.SENT),
        ("Sent Messages", FolderRole.SENT),
        ("INBOX.Sent", FolderRole.SENT),
        ("Gesendete Elemente", FolderRole.SENT),
        ("Spam", FolderRole.JUNK),
        ("Junk E-mail", FolderRole.JUNK),
        ("Deleted Items", FolderRole.TRASH),
        ("INBOX.Trash", FolderRole.TRASH),
        ("Drafts", FolderRole.DRAFTS),
        ("Archive", FolderRole.ARCHIVE),
        ("[Gmail]/All Mail", FolderRole.ALL),
        ("Clients", FolderRole.OTHER),
    ],
)
def test_well_known_names_are_recognised_without_flags(name: str, role: FolderRole):
    delimiter = "." if name.startswith("INBOX.") else "/"
    assert folder_role(Folder(name, delimiter=delimiter)) is role


def test_a_sent_folder_found_by_name_is_synced():
    folders = [Folder("INBOX"), Folder("Sent Items"), Folder("Spam")]
    assert names(folders=folders) == ["INBOX", "Sent Items"]


def test_a_junk_folder_found_by_name_is_not_synced():
    assert names(folders=[Folder("INBOX"), Folder("Junk E-mail")]) == ["INBOX"]


def test_a_modified_utf7_name_is_decoded():
    assert decode_folder_name("Entw&APw-rfe") == "Entwürfe"
    assert decode_folder_name("&ZeVnLIqe-") == "日本語"
    assert decode_folder_name("A&-B") == "A&B"


def test_a_localised_drafts_folder_is_recognised_through_its_encoded_name():
    assert folder_role(Folder("Entw&APw-rfe")) is FolderRole.DRAFTS


def test_an_included_folder_can_be_named_as_its_owner_reads_it():
    folders = [Folder("INBOX"), Folder("Kunden &AMQ- Partner")]
    assert names(MailSettings(include_folders=("Kunden Ä Partner",)), folders) == [
        "INBOX",
        "Kunden &AMQ- Partner",
    ]


@pytest.mark.parametrize(
    "settings",
    [
        DEFAULTS,
        MailSettings(include_folders=("Junk", "Trash", "Drafts", "Personal")),
        MailSettings(include_folders=("Projects/Acme",), exclude_folders=("Sent", "personal")),
    ],
)
def test_the_fetcher_fetches_no_folder_whose_messages_the_matcher_drops(settings: MailSettings):
    chosen = names(settings)
    for folder in DOVECOT:
        role = folder_role(folder)
        dropped = is_excluded_folder(decode_folder_name(folder.name), role, settings)
        named = folder.name in settings.include_folders
        assert not (folder.name in chosen and dropped), folder.name
        assert not (named and folder.name not in chosen and not dropped), folder.name


def test_junk_trash_and_drafts_are_not_synced_even_when_included():
    assert names(MailSettings(include_folders=("Junk", "Trash", "Drafts"))) == ["INBOX", "Sent"]
