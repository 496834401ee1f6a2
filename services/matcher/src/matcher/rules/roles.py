"""Role and robot addresses: sales@, support@, no-reply@ and the like are not people.

The local parts come from a maintained list (the npm package
``role-based-email-addresses`` by Mixmax, MIT), copied into ``matcher/data`` by
``scripts/update_role_addresses.py``; a workspace adds or removes entries. No-reply
spellings are recognised by pattern as well, because senders invent new ones.
"""

import json
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

_NO_REPLY = re.compile(r"(?:^|[._-])(?:no|do[._-]?not)[._-]?reply(?:$|[._-])")
_ROBOTS = frozenset({"mailer-daemon", "postmaster", "bounce", "bounces"})


@dataclass(frozen=True, slots=True)
class RoleList:
    """The local parts treated as role or robot addresses, after a workspace's edits."""

    local_parts: frozenset[str]
    version: str = ""


@cache
def maintained_role_list() -> RoleList:
    """The maintained list shipped with the matcher (see the data file for its version)."""
    raw = resources.files("matcher.data").joinpath("role_addresses.json").read_text("utf-8")
    data = json.loads(raw)
    parts = frozenset(str(p).lower() for p in data["local_parts"]) | _ROBOTS
    return RoleList(parts, f"{data['source']}@{data['version']}")


@lru_cache(maxsize=256)
def role_list(add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> RoleList:
    """The maintained list with a workspace's additions and removals applied."""
    base = maintained_role_list()
    added = {_clean(p) for p in add} - {""}
    removed = {_clean(p) for p in remove} - {""}
    if not added and not removed:
        return base
    return RoleList((base.local_parts | added) - removed, base.version)


def local_part(email: str) -> str:
    """The local part of an address, lower-cased, without a ``+tag`` sub-address."""
    local = email.rpartition("@")[0].strip().lower()
    return local.split("+", 1)[0]


def is_no_reply(email: str) -> bool:
    """True for no-reply senders: noreply@, no-reply@, do_not_reply@, alerts-noreply@, ..."""
    return bool(_NO_REPLY.search(local_part(email)))


def role_kind(email: str, roles: RoleList) -> str | None:
    """``"no-reply"`` or ``"role"`` when the address is not a person's, else None."""
    if is_no_reply(email):
        return "no-reply"
    return "role" if local_part(email) in roles.local_parts else None


def _clean(entry: str) -> str:
    return entry.strip().lower().rstrip("@")
