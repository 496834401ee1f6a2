"""Which Gmail messages a mailbox syncs: Gmail labels play the part of folders."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from crm_schemas.config import MailSettings
from crm_schemas.folders import folder_exclusion, is_synced_folder, named_in
from crm_schemas.mail import FolderRole

# Gmail's category tabs: bulk mail by another name, left out unless the owner asks.
CATEGORY_LABELS = frozenset(
    {"CATEGORY_PROMOTIONS", "CATEGORY_SOCIAL", "CATEGORY_FORUMS", "CATEGORY_UPDATES"}
)
_SYSTEM_FOLDERS = {
    "INBOX": ("INBOX", FolderRole.INBOX),
    "SENT": ("Sent", FolderRole.SENT),
    "DRAFT": ("Drafts", FolderRole.DRAFTS),
    "SPAM": ("Spam", FolderRole.JUNK),
    "TRASH": ("Trash", FolderRole.TRASH),
}


@dataclass(frozen=True, slots=True)
class GmailFolder:
    """The folder a Gmail message is filed under for the rest of the system."""

    name: str
    role: FolderRole


def _names(label_id: str, label_name: str) -> tuple[str, str, str]:
    """The names a label can be named by in the settings: id, name, category short name."""
    return label_id, label_name, label_id.removeprefix("CATEGORY_")


def _role(label_id: str) -> FolderRole:
    system = _SYSTEM_FOLDERS.get(label_id)
    return system[1] if system else FolderRole.OTHER


def synced_label_ids(labels: Mapping[str, str], settings: MailSettings) -> list[str]:
    """The labels a first import lists, by id: INBOX, SENT, then the owner's included
    labels (by name or id) in name order; never spam, trash, drafts or an excluded label
    (``crm_schemas.folders``). ``labels`` maps label id to label name."""
    chosen = ["INBOX", "SENT"]
    extra = [
        label_id
        for label_id, name in labels.items()
        if label_id not in chosen and named_in(_names(label_id, name), settings.include_folders)
    ]
    chosen += sorted(extra, key=lambda label_id: labels[label_id].casefold())
    return [
        label_id
        for label_id in chosen
        if is_synced_folder(
            _names(label_id, labels.get(label_id, label_id)), _role(label_id), settings
        )
    ]


def gmail_folder(
    label_ids: Iterable[str], labels: Mapping[str, str], settings: MailSettings
) -> GmailFolder | None:
    """The folder a message with these labels syncs under, None when it is not synced.

    Inbox and sent mail sync; a message in a category tab (promotions, social, forums,
    updates) does not unless that category is named in ``include_folders``; user labels
    only when named. A message in spam, trash or drafts, or under an excluded label, never
    does (``crm_schemas.folders``).
    """
    ids = list(label_ids)
    names = {label_id: _names(label_id, labels.get(label_id, label_id)) for label_id in ids}
    if any(folder_exclusion(names[i], _role(i), settings) for i in ids):
        return None
    if "SENT" in ids:
        return GmailFolder(*_SYSTEM_FOLDERS["SENT"])
    categories = [i for i in ids if i in CATEGORY_LABELS]
    if any(not named_in(names[i], settings.include_folders) for i in categories):
        return None
    if "INBOX" in ids:
        return GmailFolder(*_SYSTEM_FOLDERS["INBOX"])
    for label_id in sorted(ids, key=lambda i: names[i][1].casefold()):
        if named_in(names[label_id], settings.include_folders):
            role = FolderRole.OTHER if label_id not in CATEGORY_LABELS else FolderRole.INBOX
            return GmailFolder(names[label_id][1], role)
    return None
