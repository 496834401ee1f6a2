"""Which folder is what, and which folders a mailbox syncs."""

import base64
import re
from collections.abc import Iterable

from crm_schemas.config import MailSettings
from crm_schemas.folders import is_synced_folder
from crm_schemas.mail import FolderRole
from fetcher.domain.model import Folder

# RFC 6154 special-use attributes, and RFC 3348's \All on older servers.
_SPECIAL_USE = {
    "\\sent": FolderRole.SENT,
    "\\junk": FolderRole.JUNK,
    "\\trash": FolderRole.TRASH,
    "\\drafts": FolderRole.DRAFTS,
    "\\all": FolderRole.ALL,
    "\\archive": FolderRole.ARCHIVE,
}

# Well-known names, for servers that do not advertise special-use attributes.
_KNOWN_NAMES = {
    FolderRole.SENT: {
        "sent",
        "sent items",
        "sent messages",
        "sent mail",
        "sent-mail",
        "gesendet",
        "gesendete elemente",
        "gesendete objekte",
        "envoyés",
        "messages envoyés",
        "éléments envoyés",
        "enviados",
        "inviata",
        "posta inviata",
        "verzonden",
    },
    FolderRole.JUNK: {
        "junk",
        "spam",
        "junk e-mail",
        "junk email",
        "junk mail",
        "bulk mail",
        "courrier indésirable",
        "unerwünscht",
    },
    FolderRole.TRASH: {
        "trash",
        "deleted items",
        "deleted messages",
        "deleted",
        "bin",
        "papierkorb",
        "corbeille",
        "gelöschte elemente",
        "papelera",
        "cestino",
    },
    FolderRole.DRAFTS: {"drafts", "draft", "entwürfe", "brouillons", "borradores", "bozze"},
    FolderRole.ARCHIVE: {"archive", "archives", "archiv"},
    FolderRole.ALL: {"all mail", "[gmail]/all mail"},
}


def decode_folder_name(name: str) -> str:
    """A folder name as its owner reads it, from IMAP's modified UTF-7 (RFC 3501 5.1.3)."""

    def decode(match: re.Match[str]) -> str:
        chunk = match.group(1)
        if not chunk:
            return "&"
        padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
        try:
            return base64.b64decode(padded).decode("utf-16-be")
        except (ValueError, UnicodeDecodeError):
            return match.group(0)

    return re.sub(r"&([A-Za-z0-9+,]*)-", decode, name)


def _leaf(folder: Folder) -> str:
    name = decode_folder_name(folder.name)
    if folder.delimiter and folder.delimiter in name:
        return name.rsplit(folder.delimiter, 1)[1]
    return name


def folder_role(folder: Folder) -> FolderRole:
    """What a folder is for: its special-use attribute first, then its well-known name."""
    if folder.name.upper() == "INBOX":
        return FolderRole.INBOX
    for flag in folder.flags:
        role = _SPECIAL_USE.get(flag.lower())
        if role is not None:
            return role
    full = decode_folder_name(folder.name).casefold()
    leaf = _leaf(folder).casefold()
    for role, names in _KNOWN_NAMES.items():
        if full in names or leaf in names:
            return role
    return FolderRole.OTHER


def folders_to_sync(
    folders: Iterable[Folder], settings: MailSettings
) -> list[tuple[Folder, FolderRole]]:
    """The folders a mailbox syncs, inbox first, then sent, then the included ones.

    Which ones is the rule of ``crm_schemas.folders.is_synced_folder`` (the matcher
    applies the same): inbox and sent by default, any other folder only when its owner
    names it in ``include_folders``, never junk, trash, drafts or an excluded folder.
    A folder is named by its IMAP name or by its decoded name.
    """
    chosen: list[tuple[Folder, FolderRole]] = []
    for folder in folders:
        if not folder.selectable:
            continue
        role = folder_role(folder)
        if is_synced_folder((folder.name, decode_folder_name(folder.name)), role, settings):
            chosen.append((folder, role))
    order = {FolderRole.INBOX: 0, FolderRole.SENT: 1}
    return sorted(chosen, key=lambda pair: (order.get(pair[1], 2), pair[0].name))
