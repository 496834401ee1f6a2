"""Workspaces, members, API keys, connected accounts and their sync status, in MongoDB.

The timeline API owns workspaces and accounts: a change is stored here by ``_id`` and then
published on the config topic, where every other service keeps its own projection of it
(docs/adr/0005). Reads and writes go by ``_id``; only the short per-workspace lists
(members, accounts) filter on another field, and those stay small.
"""

from collections.abc import Mapping
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document
from crm_schemas.base import utcnow
from crm_schemas.config import AccountConfigured, WorkspaceConfigured
from crm_schemas.sync import SyncKind, SyncStatusChanged
from timeline_api.domain.access import Member, Role, key_digest, new_api_key
from timeline_api.domain.sync_status import kept_status
from timeline_api.ports.common import Publish


def _member(doc: Document) -> Member:
    return Member(
        member_id=str(doc["_id"]),
        workspace_id=doc["workspace_id"],
        email=doc["email"],
        name=doc.get("name") or doc["email"],
        role=Role(doc.get("role", Role.MEMBER)),
    )


def _event_doc(event: WorkspaceConfigured | AccountConfigured) -> Document:
    return event.model_dump(mode="json") | {"updated_at": event.updated_at}


class MongoDirectory:
    """The workspace side of the API's database, and the config topic it feeds; also each
    account's sync status (``ports.accounts.Directory`` and ``ports.accounts.SyncStatuses``)."""

    def __init__(self, db: AsyncDatabase[Document], publish: Publish) -> None:
        self._publish = publish
        self.workspaces: AsyncCollection[Document] = db["workspaces"]
        self.members: AsyncCollection[Document] = db["members"]
        self.keys: AsyncCollection[Document] = db["api_keys"]
        self.accounts: AsyncCollection[Document] = db["accounts"]
        self.status: AsyncCollection[Document] = db["account_status"]
        self.oauth_states: AsyncCollection[Document] = db["oauth_states"]

    # --- workspaces -------------------------------------------------------------------

    async def save_workspace(self, event: WorkspaceConfigured) -> None:
        """Store a workspace's new version, then tell every service."""
        await self.workspaces.replace_one({"_id": event.workspace_id}, _event_doc(event), True)
        await self._publish(event.workspace_id, event)

    async def workspace(self, workspace_id: str) -> WorkspaceConfigured | None:
        """The workspace, or None."""
        doc = await self.workspaces.find_one({"_id": workspace_id})
        return WorkspaceConfigured.model_validate(doc) if doc else None

    # --- members and keys -------------------------------------------------------------

    async def save_member(self, member: Member) -> None:
        """Store a member (the id is deterministic, so this is an upsert)."""
        doc = {
            "workspace_id": member.workspace_id,
            "email": member.email,
            "name": member.name,
            "role": member.role.value,
        }
        await self.members.update_one({"_id": member.member_id}, {"$set": doc}, upsert=True)

    async def member(self, member_id: str) -> Member | None:
        """The member, or None."""
        doc = await self.members.find_one({"_id": member_id})
        return _member(doc) if doc else None

    async def workspace_members(self, workspace_id: str) -> list[Member]:
        """Every member of a workspace, by id."""
        found = self.members.find({"workspace_id": workspace_id}).sort("_id", ASCENDING)
        return [_member(doc) async for doc in found]

    async def issue_key(self, member: Member, label: str = "") -> str:
        """A new API key for the member; only its digest is stored, so show it now or never."""
        key = new_api_key()
        await self.keys.insert_one(
            {
                "_id": key_digest(key),
                "member_id": member.member_id,
                "workspace_id": member.workspace_id,
                "label": label,
                "created_at": utcnow(),
            }
        )
        return key

    async def member_for_key(self, key: str) -> Member | None:
        """The member a key belongs to, None for an unknown or revoked key."""
        found = await self.keys.find_one({"_id": key_digest(key)})
        if found is None:
            return None
        member = await self.member(found["member_id"])
        if member is None or member.workspace_id != found["workspace_id"]:
            return None
        return member

    # --- accounts ---------------------------------------------------------------------

    async def save_account(self, event: AccountConfigured) -> None:
        """Store an account's new version, then tell every service (the fetcher syncs it)."""
        await self.accounts.replace_one({"_id": event.account_id}, _event_doc(event), True)
        await self._publish(event.account_id, event)

    async def account(self, account_id: str) -> AccountConfigured | None:
        """The account, or None."""
        doc = await self.accounts.find_one({"_id": account_id})
        return AccountConfigured.model_validate(doc) if doc else None

    async def all_accounts(self) -> list[AccountConfigured]:
        """Every account of every workspace, disconnected ones included (a scan: for
        operators' commands, not for requests)."""
        return [AccountConfigured.model_validate(doc) async for doc in self.accounts.find()]

    async def workspace_accounts(self, workspace_id: str) -> list[AccountConfigured]:
        """Every connected account of a workspace (disconnected ones left out), by id."""
        found = self.accounts.find({"workspace_id": workspace_id, "disconnected": False})
        return [AccountConfigured.model_validate(doc) async for doc in found.sort("_id")]

    async def accounts_by_email(self, email: str) -> list[AccountConfigured]:
        """The connected accounts of an address, one per workspace that connected it (a
        push names a mailbox, not an account; ``ports.push.PushAccounts``)."""
        found = self.accounts.find({"email": email, "disconnected": False})
        return [AccountConfigured.model_validate(doc) async for doc in found.sort("_id")]

    # --- sync status ------------------------------------------------------------------

    async def record_status(self, status: SyncStatusChanged) -> None:
        """Keep an account's newest status per kind (``domain.sync_status.kept_status``)."""
        doc_id = f"{status.account_id}:{status.kind.value}"
        kept = kept_status(await self.status.find_one({"_id": doc_id}), status)
        if kept is not None:  # one writer per account: sync.status is keyed by account id
            await self.status.replace_one({"_id": doc_id}, kept, upsert=True)

    async def statuses(self, account_id: str) -> dict[SyncKind, Mapping[str, Any]]:
        """The newest status of each kind the account has reported."""
        found: dict[SyncKind, Mapping[str, Any]] = {}
        for kind in SyncKind:
            doc = await self.status.find_one({"_id": f"{account_id}:{kind.value}"})
            if doc is not None:
                found[kind] = doc
        return found

    # --- OAuth consent in flight ------------------------------------------------------

    async def save_oauth_state(self, state: str, doc: Document) -> None:
        """Remember a consent request until its callback comes back with ``state``."""
        await self.oauth_states.replace_one({"_id": key_digest(state)}, doc, upsert=True)

    async def take_oauth_state(self, state: str) -> Document | None:
        """The consent request of ``state``, at most once: it is deleted as it is read."""
        return await self.oauth_states.find_one_and_delete({"_id": key_digest(state)})
