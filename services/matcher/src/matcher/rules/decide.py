"""Keep or drop: every rule applied in one place, each drop with its reason and rule."""

from dataclasses import dataclass

from crm_schemas.calendar import RawEvent
from crm_schemas.config import AccountConfigured, MailSettings
from crm_schemas.folders import folder_exclusion
from crm_schemas.mail import FolderRole, ParticipantRole, RawMessage
from crm_schemas.outcomes import DropReason
from matcher.rules.blocklist import blocked_address
from matcher.rules.group_mail import group_mail_signal
from matcher.rules.internal import is_internal, is_internal_address
from matcher.rules.invitations import is_calendar_invitation
from matcher.rules.participants import Seen, event_participants, message_participants
from matcher.rules.roles import RoleList, maintained_role_list, role_kind


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
    """True for spam, trash, drafts and every folder the owner excluded: the rule the
    fetcher chooses its folders by (``crm_schemas.folders``), applied again here so a
    replay under new settings drops what is now excluded."""
    return folder_exclusion((folder,), role, settings) is not None


def role_address_signal(
    participants: tuple[Seen, ...], own_domains: tuple[str, ...], roles: RoleList
) -> str | None:
    """Why a message is robot or group mail by its addresses, or None.

    A message from a role or no-reply address (sales@, noreply@) is dropped; so is one
    whose every outside participant is a role address: there is no person to put it on.
    """
    senders = [p for p in participants if ParticipantRole.FROM in p.roles]
    for sender in senders:
        kind = role_kind(sender.email, roles)
        if kind is not None:
            return f"{kind} sender {sender.email}"
    outside = [p.email for p in participants if not is_internal_address(p.email, own_domains)]
    kinds = [role_kind(e, roles) for e in outside]
    if outside and all(kinds):
        return f"only role addresses outside: {', '.join(outside)}"
    return None


def from_disconnected_account(account: AccountConfigured) -> Dropped | None:
    """Nothing of a disconnected account is synced, not even what was on its way when its
    owner disconnected it (the timeline removes what it had already brought)."""
    if account.disconnected:
        return Dropped(DropReason.ACCOUNT_DISCONNECTED, "is_connected", account.account_id)
    return None


def decide_message(
    message: RawMessage,
    own_domains: tuple[str, ...],
    settings: MailSettings,
    owner_addresses: frozenset[str],
    roles: RoleList | None = None,
) -> Kept | Dropped:
    """Whether a message is synced, and with which participants.

    The rules run in a fixed order and the first that drops names the reason: excluded
    folder, no participants, blocklist, internal, calendar invitation, bulk headers,
    role and no-reply addresses.
    """
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
    method = is_calendar_invitation(message)
    if method is not None:
        return Dropped(DropReason.CALENDAR_INVITATION, "is_calendar_invitation", method)
    signal = group_mail_signal(message.headers, message.content_type)
    if signal is not None:
        return Dropped(DropReason.GROUP_MAIL, "group_mail_signal", signal)
    role = role_address_signal(participants, own_domains, roles or maintained_role_list())
    if role is not None:
        return Dropped(DropReason.GROUP_MAIL, "role_address_signal", role)
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
