"""Where a message sits in a mailbox, and whether the account syncs that place: the
fetcher's half of "why isn't this email here?" for mail that was never fetched.

The same rules as the sync decide it (``folders.folders_to_sync`` for IMAP,
``gmail_labels.gmail_folder`` for Gmail, the synced streams for Graph), so the answer
can never disagree with what the sync does.
"""

from collections.abc import Iterable, Mapping

from crm_schemas.config import MailSettings
from crm_schemas.lookups import MailboxPlace, NotSyncedBecause
from crm_schemas.mail import FolderRole
from fetcher.domain.folders import decode_folder_name, folder_role, folders_to_sync
from fetcher.domain.gmail_labels import CATEGORY_LABELS, gmail_folder
from fetcher.domain.model import Folder

NEVER_BY_DEFAULT = frozenset({FolderRole.JUNK, FolderRole.TRASH, FolderRole.DRAFTS})
_GMAIL_PLACES = {
    "SPAM": ("Spam", FolderRole.JUNK),
    "TRASH": ("Trash", FolderRole.TRASH),
    "DRAFT": ("Drafts", FolderRole.DRAFTS),
}


def _including(settings: MailSettings, names: Iterable[str], excludes: bool = True) -> MailSettings:
    """The settings with these folders included too (and the exclusions dropped, unless
    ``excludes``): what the first syncs and the second does not, the owner excluded."""
    return settings.model_copy(
        update={
            "include_folders": (*settings.include_folders, *names),
            "exclude_folders": settings.exclude_folders if excludes else (),
        }
    )


def place(
    folder: str, role: FolderRole, synced: bool, excluded: bool, category: bool = False
) -> MailboxPlace:
    """A folder the message is in; why it is not synced, when it is not."""
    because: NotSyncedBecause | None = None
    if not synced:
        if excluded:
            because = "excluded"
        elif role in NEVER_BY_DEFAULT:
            because = "junk_trash_drafts"
        elif category:
            because = "category"
        else:
            because = "not_included"
    return MailboxPlace(folder=folder, folder_role=role, synced=synced, not_synced_because=because)


def imap_place(folder: Folder, settings: MailSettings) -> MailboxPlace:
    """An IMAP folder the message is in, as the sync sees it."""
    synced = bool(folders_to_sync([folder], settings))
    excluded = not folders_to_sync([folder], _including(settings, [folder.name])) and bool(
        folders_to_sync([folder], _including(settings, [folder.name], excludes=False))
    )
    return place(decode_folder_name(folder.name), folder_role(folder), synced, excluded)


def gmail_place(
    label_ids: Iterable[str], labels: Mapping[str, str], settings: MailSettings
) -> MailboxPlace:
    """Where a Gmail message is, by its labels, as the sync sees it."""
    ids = list(label_ids)
    synced = gmail_folder(ids, labels, settings)
    if synced is not None:
        return place(synced.name, synced.role, synced=True, excluded=False)
    named = [labels.get(i, i) for i in ids]
    excluded = gmail_folder(ids, labels, _including(settings, named)) is None and (
        gmail_folder(ids, labels, _including(settings, named, excludes=False)) is not None
    )
    for system, (name, role) in _GMAIL_PLACES.items():
        if system in ids:
            return place(name, role, synced=False, excluded=excluded)
    categories = [i for i in ids if i in CATEGORY_LABELS]
    if categories:
        name = categories[0].removeprefix("CATEGORY_").capitalize()
        return place(name, FolderRole.INBOX, False, excluded, category=True)
    user = sorted(labels.get(i, i) for i in ids if i not in ("UNREAD", "IMPORTANT", "STARRED"))
    return place(user[0] if user else "All Mail", FolderRole.OTHER, False, excluded)
