"""Which Gmail messages sync: labels as folders, category tabs left out by default."""

from crm_schemas.config import MailSettings
from crm_schemas.mail import FolderRole
from fetcher.domain.gmail_labels import GmailFolder, gmail_folder, synced_label_ids

LABELS = {"INBOX": "INBOX", "SENT": "SENT", "Label_1": "Clients", "Label_2": "Newsletters"}


def test_inbox_and_sent_mail_sync_by_default():
    assert gmail_folder(["INBOX", "UNREAD"], LABELS, MailSettings()) == GmailFolder(
        "INBOX", FolderRole.INBOX
    )
    assert gmail_folder(["SENT"], LABELS, MailSettings()).role is FolderRole.SENT


def test_category_tabs_are_left_out_unless_named():
    for category in ("PROMOTIONS", "SOCIAL", "FORUMS", "UPDATES"):
        labels = ["INBOX", f"CATEGORY_{category}"]
        assert gmail_folder(labels, LABELS, MailSettings()) is None
        named = MailSettings(include_folders=(category.lower(),))
        assert gmail_folder(labels, LABELS, named) == GmailFolder("INBOX", FolderRole.INBOX)


def test_the_personal_category_is_ordinary_inbox_mail():
    found = gmail_folder(["INBOX", "CATEGORY_PERSONAL"], LABELS, MailSettings())
    assert found == GmailFolder("INBOX", FolderRole.INBOX)


def test_spam_trash_and_drafts_never_sync_by_default_even_with_inbox():
    for label in ("SPAM", "TRASH", "DRAFT"):
        assert gmail_folder(["INBOX", label], LABELS, MailSettings()) is None


def test_spam_trash_and_drafts_never_sync_even_when_named():
    named = MailSettings(include_folders=("SPAM", "Trash", "drafts"))
    for label in ("SPAM", "TRASH", "DRAFT"):
        assert gmail_folder([label], LABELS, named) is None
    assert synced_label_ids(LABELS | {"SPAM": "SPAM", "TRASH": "TRASH"}, named) == [
        "INBOX",
        "SENT",
    ]


def test_a_user_label_syncs_only_when_named_by_its_name():
    assert gmail_folder(["Label_1"], LABELS, MailSettings()) is None
    named = MailSettings(include_folders=("clients",))
    assert gmail_folder(["Label_1"], LABELS, named) == GmailFolder("Clients", FolderRole.OTHER)


def test_an_excluded_label_wins_over_inbox():
    settings = MailSettings(exclude_folders=("Newsletters",))
    assert gmail_folder(["INBOX", "Label_2"], LABELS, settings) is None


def test_sent_mail_in_a_category_still_syncs():
    assert gmail_folder(["SENT", "CATEGORY_UPDATES"], LABELS, MailSettings()) is not None


def test_a_first_import_lists_inbox_sent_then_included_labels():
    settings = MailSettings(include_folders=("Newsletters", "Clients"))
    assert synced_label_ids(LABELS, settings) == ["INBOX", "SENT", "Label_1", "Label_2"]
    assert synced_label_ids(LABELS, MailSettings(exclude_folders=("sent",))) == ["INBOX"]
