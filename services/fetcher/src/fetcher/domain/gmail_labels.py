"""Which Gmail messages a mailbox syncs: Gmail labels play the part of folders."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from crm_schemas.config import MailSettings
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
_NEVER_BY_DEFAULT = frozenset({"DRAFT", "SPAM", "TRASH"})


@dataclass(frozen=True, slots=True)
class GmailFolder:
    """The folder a Gmail message is filed under for the rest of the system."""

    name: str
    role: FolderRole


def _named(label_id: str, label_name: str, names: Iterable[str]) -> bool:
    wanted = {n.strip().casefold() for n in names}
    short = label_id.removeprefix("CATEGORY_").casefold()
    return bool({label_id.casefold(), label_name.casefold(), short} & wanted)


def synced_label_ids(labels: Mapping[str, str], settings: MailSettings) -> list[str]:
    """The labels a first import lists, by id: INBOX, SENT, then the owner's included
    labels (by name or id) in name order. ``labels`` maps label id to label name."""
    chosen = ["INBOX", "SENT"]
    extra = [
        label_id
        for label_id, name in labels.items()
        if label_id not in chosen and _named(label_id, name, settings.include_folders)
    ]
    chosen += sorted(extra, key=lambda label_id: labels[label_id].casefold())
    return [
        label_id
        for label_id in chosen
        if not _named(label_id, labels.get(label_id, label_id), settings.exclude_folders)
    ]


def gmail_folder(
    label_ids: Iterable[str], labels: Mapping[str, str], settings: MailSettings
) -> GmailFolder | None:
    """The folder a message with these labels syncs under, None when it is not synced.

    Inbox and sent mail sync; a message in a category tab (promotions, social, forums,
    updates) does not unless that category is named in ``include_folders``; spam, trash and
    drafts never do unless named; user labels only when named. An excluded label wins.
    """
    ids = list(label_ids)
    names = {label_id: labels.get(label_id, label_id) for label_id in ids}
    if any(_named(i, names[i], settings.exclude_folders) for i in ids):
        return None
    if any(
        i in _NEVER_BY_DEFAULT and not _named(i, names[i], settings.include_folders) for i in ids
    ):
        return None
    if "SENT" in ids:
        return GmailFolder(*_SYSTEM_FOLDERS["SENT"])
    categories = [i for i in ids if i in CATEGORY_LABELS]
    if any(not _named(i, names[i], settings.include_folders) for i in categories):
        return None
    for system in ("INBOX", "DRAFT", "SPAM", "TRASH"):
        if system in ids:
            return GmailFolder(*_SYSTEM_FOLDERS[system])
    for label_id in sorted(ids, key=lambda i: names[i].casefold()):
        if _named(label_id, names[label_id], settings.include_folders):
            role = FolderRole.OTHER if label_id not in CATEGORY_LABELS else FolderRole.INBOX
            return GmailFolder(names[label_id], role)
    return None
