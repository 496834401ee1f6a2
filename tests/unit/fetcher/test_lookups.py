"""Where a message sits in a mailbox, and whether the account syncs it: decided by the
sync's own folder rules, so a lookup never disagrees with the sync."""

from crm_schemas.config import MailSettings
from crm_schemas.mail import FolderRole
from fetcher.domain.lookups import gmail_place, imap_place
from fetcher.domain.model import Folder


def folder(name: str, *flags: str) -> Folder:
    return Folder(name=name, flags=frozenset(flags))


def because(place: object) -> tuple[str, bool, str | None]:
    return (place.folder, place.synced, place.not_synced_because)  # type: ignore[attr-defined]


def test_the_inbox_and_sent_are_synced_and_junk_trash_drafts_are_not() -> None:
    settings = MailSettings()
    assert because(imap_place(folder("INBOX"), settings)) == ("INBOX", True, None)
    assert because(imap_place(folder("Sent", "\\Sent"), settings)) == ("Sent", True, None)
    junk = imap_place(folder("Spam", "\\Junk"), settings)
    assert (junk.folder_role, junk.not_synced_because) == (FolderRole.JUNK, "junk_trash_drafts")
    assert because(imap_place(folder("Trash"), settings))[2] == "junk_trash_drafts"


def test_a_folder_the_owner_excluded_says_so_even_when_it_was_never_included() -> None:
    settings = MailSettings(exclude_folders=("Private",), include_folders=("Projects",))
    assert because(imap_place(folder("Private"), settings)) == ("Private", False, "excluded")
    assert because(imap_place(folder("Projects"), settings)) == ("Projects", True, None)
    assert because(imap_place(folder("Archive/2023"), settings))[2] == "not_included"


def test_a_gmail_message_is_placed_by_its_labels() -> None:
    labels = {"Label_1": "Clients", "Label_2": "Private"}
    settings = MailSettings(exclude_folders=("Private",))
    assert because(gmail_place(["INBOX", "UNREAD"], labels, settings)) == ("INBOX", True, None)
    assert because(gmail_place(["SPAM"], labels, settings)) == ("Spam", False, "junk_trash_drafts")
    promo = gmail_place(["INBOX", "CATEGORY_PROMOTIONS"], labels, settings)
    assert because(promo) == ("Promotions", False, "category")
    assert because(gmail_place(["Label_1"], labels, settings)) == ("Clients", False, "not_included")
    assert because(gmail_place(["INBOX", "Label_2"], labels, settings))[2] == "excluded"
    assert because(gmail_place([], labels, settings)) == ("All Mail", False, "not_included")
