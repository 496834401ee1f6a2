"""Keep or drop: every rule applied in one place, each drop with its reason and rule."""

from dataclasses import dataclass

from crm_schemas.calendar import RawEvent
from crm_schemas.config import MailSettings
from crm_schemas.mail import FolderRole, RawMessage
from crm_schemas.outcomes import DropReason
from matcher.rules.blocklist import blocked_address
from matcher.rules.group_mail import group_mail_signal
from matcher.rules.internal import is_internal
from matcher.rules.participants import Seen, event_participants, message_participants

NEVER_SYNCED_FOLDER_ROLES = frozenset({FolderRole.JUNK, FolderRole.TRASH, FolderRole.DRAFTS})


@dataclass(frozen=True, slots=True)
class Kept:
    """The item may be shared; these are its participants."""

    participants: tuple[Seen, ...]
    sent_by_owner: bool = False


@dataclass(frozen=True, slots=True)
class Dropped:
    """The item is never shared, for this reason, decided by this rule."""

    reason: DropReason
    rule: str
    detail: str = ""


def is_excluded_folder(folder: str, role: FolderRole, settings: MailSettings) -> bool:
    """True for spam, trash, drafts and every folder the owner excluded."""
    excluded = {f.strip().lower() for f in settings.exclude_folders}
    return role in NEVER_SYNCED_FOLDER_ROLES or folder.strip().lower() in excluded


def thread_root(message: RawMessage) -> str:
    """The Message-ID that started the conversation this message belongs to."""
    if message.references:
        return message.references[0]
    return message.in_reply_to or message.message_id


def decide_message(
    message: RawMessage,
    own_domains: tuple[str, ...],
    settings: MailSettings,
    owner_addresses: frozenset[str],
) -> Kept | Dropped:
    """Whether a message is synced, and with which participants."""
    if is_excluded_folder(message.folder, message.folder_role, settings):
        return Dropped(DropReason.EXCLUDED_FOLDER, "is_excluded_folder", message.folder)
    participants = message_participants(message)
    emails = [p.email for p in participants]
    if not participants:
        return Dropped(DropReason.NO_PARTICIPANTS, "has_participants")
    blocked = blocked_address(emails, settings.blocklist)
    if blocked is not None:
        return Dropped(DropReason.BLOCKED, "blocked_address", blocked)
    if is_internal(emails, own_domains):
        return Dropped(DropReason.INTERNAL, "is_internal", ", ".join(own_domains))
    signal = group_mail_signal(message.headers, message.content_type)
    if signal is not None:
        return Dropped(DropReason.GROUP_MAIL, "group_mail_signal", signal)
    sender = {a.email.lower() for a in message.from_}
    return Kept(participants, sent_by_owner=bool(sender & owner_addresses))


def decide_event(
    event: RawEvent, own_domains: tuple[str, ...], blocklist: tuple[str, ...]
) -> Kept | Dropped:
    """Whether a meeting is synced, and with which participants."""
    participants = event_participants(event)
    emails = [p.email for p in participants]
    if not participants:
        return Dropped(DropReason.NO_PARTICIPANTS, "has_participants")
    blocked = blocked_address(emails, blocklist)
    if blocked is not None:
        return Dropped(DropReason.BLOCKED, "blocked_address", blocked)
    if is_internal(emails, own_domains):
        return Dropped(DropReason.INTERNAL, "is_internal", ", ".join(own_domains))
    return Kept(participants)
