"""Deterministic ids: the same thing seen twice, by any replica, gets the same id.

Every id is a UUIDv5 over the workspace and a natural key, so redelivery, replays and
several replicas upsert the same document instead of creating a second one.
"""

import hashlib
import uuid

_NAMESPACE = uuid.UUID("6f1d9a52-3c1e-4c5e-9a0b-7d2f3e8c1a40")


def _id(kind: str, workspace_id: str, key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}\x1f{workspace_id}\x1f{key}"))


def normalize_email(address: str) -> str:
    """The form an address is compared and stored in: trimmed and lower-cased."""
    return address.strip().lower()


def normalize_message_id(message_id: str) -> str:
    """An RFC 5322 Message-ID without angle brackets or surrounding space."""
    return message_id.strip().strip("<>").strip()


def message_id_key(message_id: str) -> str:
    """The form two Message-IDs are compared in: the same key means the same message.

    Angle brackets and space go; the domain part (after the last ``@``) is lower-cased,
    because domains are case-insensitive; the local part keeps its case, because RFC 5322
    makes it case-sensitive and some servers generate ids that differ only in case.
    """
    normalized = normalize_message_id(message_id)
    local, at, domain = normalized.rpartition("@")
    return f"{local}@{domain.lower()}" if at else normalized


def message_item_id(workspace_id: str, message_id: str) -> str:
    """One id per message per workspace, whichever mailbox or folder it was seen in."""
    return _id("message", workspace_id, message_id_key(message_id))


def copy_key(item_id: str, account_id: str) -> str:
    """The key of one account's copy of an item on the raw topics (``<item>/<account>``).

    A compacted raw topic keeps the newest record of each key: keyed by the item alone,
    it would keep one mailbox's copy of a message seen in two, and a replay could no
    longer reprocess the other (its source, its visibility, its blocklist). A copy's
    versions and its removal share the key, so the newest of them is what stays
    (docs/adr/0021).
    """
    return f"{item_id}/{account_id}"


def thread_id(workspace_id: str, root_message_id: str) -> str:
    """One id per conversation, named after the Message-ID that started it."""
    return _id("thread", workspace_id, message_id_key(root_message_id))


def event_item_id(workspace_id: str, ical_uid: str, recurrence_id: str | None) -> str:
    """One id per meeting occurrence per workspace, whichever calendar it is on."""
    return _id("event", workspace_id, f"{ical_uid}\x1f{recurrence_id or ''}")


def person_id(workspace_id: str, email: str) -> str:
    """The id of the person auto-created for an address."""
    return _id("person", workspace_id, normalize_email(email))


def company_id(workspace_id: str, domain: str) -> str:
    """The id of the company auto-created for a domain."""
    return _id("company", workspace_id, domain.strip().lower())


def keyed_record_id(kind: str, workspace_id: str, key: str) -> str:
    """The id of a record a client created under a key of its own (a person, company or
    opportunity given an ``id`` through the records API): one id per key per workspace, so
    the same key in two workspaces makes two records, and no key reaches another
    workspace's record."""
    return _id(f"{kind}-key", workspace_id, key)


def synthetic_message_id(*parts: str) -> str:
    """A stable Message-ID for a message that has none, from what identifies it."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"{digest}@no-message-id.invalid"
