"""Which folders of a mailbox are synced: one rule, read by the fetcher (which folders it
fetches) and by the matcher (which messages it drops), so the two cannot disagree.

Junk, trash and drafts are never synced, even when an owner names them in
``include_folders``: spam is nobody's relationship, a draft was never sent, and deleted
mail is mail its owner put away. A folder named in ``exclude_folders`` is never synced.
Inbox and sent folders are synced by default; any other folder only when named in
``include_folders``. The matcher applies the rule again on every (re)played message, so a
folder excluded later leaves the timelines on a replay.
"""

from collections.abc import Iterable

from crm_schemas.config import MailSettings
from crm_schemas.mail import FolderRole

NEVER_SYNCED_ROLES = frozenset({FolderRole.JUNK, FolderRole.TRASH, FolderRole.DRAFTS})
SYNCED_BY_DEFAULT_ROLES = frozenset({FolderRole.INBOX, FolderRole.SENT})


def named_in(names: Iterable[str], wanted: Iterable[str]) -> bool:
    """Whether any of a folder's names (its IMAP name, decoded name, label id, ...) is in
    a settings list; compared trimmed and case-blind."""
    chosen = {name.strip().casefold() for name in wanted}
    return any(name.strip().casefold() in chosen for name in names)


def folder_exclusion(names: Iterable[str], role: FolderRole, settings: MailSettings) -> str | None:
    """Why a folder is never synced, or None when it may be: its role (junk, trash,
    drafts) whatever ``include_folders`` says, or the owner excluded it by name."""
    if role in NEVER_SYNCED_ROLES:
        return f"{role.value} folders are never synced"
    if named_in(names, settings.exclude_folders):
        return "excluded by the owner"
    return None


def is_synced_folder(names: Iterable[str], role: FolderRole, settings: MailSettings) -> bool:
    """Whether a folder is synced: never when excluded (``folder_exclusion``); inbox and
    sent by default; any other folder when its owner names it in ``include_folders``."""
    names = tuple(names)
    if folder_exclusion(names, role, settings) is not None:
        return False
    return role in SYNCED_BY_DEFAULT_ROLES or named_in(names, settings.include_folders)
