"""Who becomes a person by auto-creation, per the account's setting.

Never: internal participants, the mailbox owner (and the aliases the provider reports),
group, role and robot addresses, and addresses or domains the mailbox blocks. The matcher
drops mail *from* group and robot senders; a role address that is only copied on a normal
thread (``support@client.com`` in cc) reaches the enricher and must not become a person.
The enricher cannot import the matcher, so it keeps its own short list of role local
parts here (``ROLE_LOCAL_PARTS``), which each workspace can extend or trim with the same
``role_addresses_add`` / ``role_addresses_remove`` settings the matcher reads.
"""

import re
from collections.abc import Iterable

from crm_schemas.config import ContactCreation
from crm_schemas.ids import normalize_email
from crm_schemas.mail import Participant

ROLE_LOCAL_PARTS = frozenset(
    {
        "admin", "accounts", "billing", "bounce", "bounces", "careers", "contact", "daemon",
        "donotreply", "do-not-reply", "feedback", "hello", "help", "helpdesk", "hr", "info",
        "invoice", "invoices", "jobs", "mailer-daemon", "marketing", "news", "newsletter",
        "no-reply", "noreply", "notification", "notifications", "office", "orders",
        "postmaster", "press", "privacy", "sales", "security", "service", "support", "team",
        "webmaster",
    }
)  # fmt: skip
_ROBOT = re.compile(
    r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?|mailer[-_.]?daemon)([-+_.].*)?$"
)


def creates_people_from_message(policy: ContactCreation, sent_by_owner: bool) -> bool:
    """Whether a message's participants may become people.

    ``sent_only`` (the default) only creates the people the owner wrote to: the people
    you write to are the people you work with.
    """
    if policy is ContactCreation.NONE:
        return False
    return policy is ContactCreation.SENT_AND_RECEIVED or sent_by_owner


def role_local_parts(add: Iterable[str] = (), remove: Iterable[str] = ()) -> frozenset[str]:
    """The role local parts of a workspace: the list, plus its additions, minus its removals."""
    extra = {a.strip().lower() for a in add}
    gone = {r.strip().lower() for r in remove}
    return (ROLE_LOCAL_PARTS | extra) - gone


def is_role_address(email: str, roles: frozenset[str] = ROLE_LOCAL_PARTS) -> bool:
    """Whether an address belongs to a role or a robot rather than to a person.

    ``support@``, ``sales+eu@``, ``no-reply-123@``: the local part before any ``+`` tag is
    compared with the role list; robot senders are recognised by their usual shapes.
    """
    local = normalize_email(email).partition("@")[0]
    base = local.partition("+")[0]
    return base in roles or bool(_ROBOT.match(local))


def is_blocked(email: str, blocklist: Iterable[str]) -> bool:
    """Whether a mailbox's blocklist names this address or its domain (or a parent domain)."""
    address = normalize_email(email)
    domain = address.rpartition("@")[2]
    for entry in blocklist:
        blocked = normalize_email(entry).lstrip("@")
        if "@" in blocked:
            if blocked == address:
                return True
        elif domain == blocked or domain.endswith(f".{blocked}"):
            return True
    return False


def may_become_person(
    participant: Participant,
    owner_addresses: frozenset[str],
    *,
    roles: frozenset[str] = ROLE_LOCAL_PARTS,
    blocklist: Iterable[str] = (),
) -> bool:
    """Whether a participant may be auto-created as a person.

    Internal participants, the owner and their aliases, role and robot addresses and
    blocked addresses never are.
    """
    email = normalize_email(participant.email)
    return not (
        participant.internal
        or email in owner_addresses
        or is_role_address(email, roles)
        or is_blocked(email, blocklist)
    )
