"""Where each account's push subscriptions are kept: one document per account, by ``_id``
(the account id), holding a subscription per kind and stream, in the fetcher's database;
and an in-memory twin for unit tests, held to the same contract
(tests/integration/fetcher/test_push_state_contract.py).

One document per account keeps every read an ``_id`` lookup (FerretDB scans anything
else). It has one writer at a time: the replica that owns the account's sync requests,
or, once the account is disconnected, the one that deletes its subscriptions.
"""

from dataclasses import asdict
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document
from crm_schemas.config import OAuthProvider
from crm_schemas.sync import SyncKind
from fetcher.domain.push import Subscription


def _doc(sub: Subscription) -> Document:
    doc = asdict(sub)
    doc["kind"], doc["provider"] = sub.kind.value, sub.provider.value
    return doc


def _subscription(doc: Document) -> Subscription:
    fields: dict[str, Any] = dict(doc)
    fields["kind"], fields["provider"] = SyncKind(doc["kind"]), OAuthProvider(doc["provider"])
    return Subscription(**fields)


class MongoPushStates:
    """Push subscriptions in MongoDB (collection ``push_subscriptions``)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._accounts = db["push_subscriptions"]

    async def of_account(self, account_id: str) -> list[Subscription]:
        """Every subscription of an account, any kind, by key."""
        doc = await self._accounts.find_one({"_id": account_id})
        subs = [_subscription(s) for s in (doc or {}).get("subscriptions", [])]
        return sorted(subs, key=lambda s: s.key)

    async def save(self, sub: Subscription) -> None:
        """Keep a subscription's current state."""
        others = [s for s in await self.of_account(sub.account_id) if s.key != sub.key]
        await self._write(sub.account_id, [*others, sub])

    async def delete(self, sub: Subscription) -> None:
        """Forget a subscription."""
        others = [s for s in await self.of_account(sub.account_id) if s.key != sub.key]
        await self._write(sub.account_id, others)

    async def _write(self, account_id: str, subs: list[Subscription]) -> None:
        if subs:
            doc = {"subscriptions": [_doc(s) for s in sorted(subs, key=lambda s: s.key)]}
            await self._accounts.replace_one({"_id": account_id}, doc, upsert=True)
        else:
            await self._accounts.delete_one({"_id": account_id})


class MemoryPushStates:
    """Push subscriptions in a dict, for unit tests."""

    def __init__(self) -> None:
        self.subs: dict[str, Subscription] = {}

    async def of_account(self, account_id: str) -> list[Subscription]:
        """Every subscription of an account, by key."""
        return [s for k, s in sorted(self.subs.items()) if s.account_id == account_id]

    async def save(self, sub: Subscription) -> None:
        """Keep a subscription's current state."""
        self.subs[sub.key] = sub

    async def delete(self, sub: Subscription) -> None:
        """Forget a subscription."""
        self.subs.pop(sub.key, None)
