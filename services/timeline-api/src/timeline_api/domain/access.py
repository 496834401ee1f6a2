"""Who is asking: workspace members and their API keys.

Every API call carries ``Authorization: Bearer <key>``; the key belongs to one member and
the call acts as that member, inside that member's workspace only. A key is shown once,
when it is issued; only its SHA-256 digest is stored, so a stolen database holds no key.
"""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum

from crm_schemas.ids import normalize_email

KEY_PREFIX = "crm_"


class Role(StrEnum):
    """What a member may do beyond reading: admins manage the workspace and its members."""

    ADMIN = "admin"
    MEMBER = "member"


@dataclass(frozen=True, slots=True)
class Member:
    """A person of the team, acting through one of their API keys."""

    member_id: str
    workspace_id: str
    email: str
    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        """Whether this member may change the workspace and add members."""
        return self.role is Role.ADMIN


def new_api_key() -> str:
    """A fresh key: the prefix (so secret scanners can spot it) and 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_digest(key: str) -> str:
    """What is stored of a key, and looked up by: its SHA-256, in hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def bearer_key(authorization: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header, None when there is none."""
    if not authorization:
        return None
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    return key


_NAMESPACE = uuid.UUID("0b5d7c1e-9a43-4f6e-8f0a-2c7e5d1b3a96")


def workspace_id_for(name: str) -> str:
    """The id a workspace gets from its name when none is given."""
    return str(uuid.uuid5(_NAMESPACE, f"workspace\x1f{name.strip().lower()}"))


def account_id_for(workspace_id: str, email: str) -> str:
    """The id of a workspace's connected account of an address: one account per mailbox."""
    return str(uuid.uuid5(_NAMESPACE, f"account\x1f{workspace_id}\x1f{normalize_email(email)}"))


def member_id_for(workspace_id: str, email: str) -> str:
    """The id of a workspace's member with an address: one member per address."""
    return str(uuid.uuid5(_NAMESPACE, f"member\x1f{workspace_id}\x1f{normalize_email(email)}"))


def member_for(workspace_id: str, email: str, name: str | None, role: Role) -> Member:
    """A member record for an address, named by it when no name is given."""
    address = normalize_email(email)
    return Member(
        member_id=member_id_for(workspace_id, address),
        workspace_id=workspace_id,
        email=address,
        name=(name or "").strip() or address,
        role=role,
    )
