"""Refresh tokens a provider rotated, kept sealed in the fetcher's database.

Microsoft answers a refresh with a new refresh token and asks clients to use the newest
one: the one given at consent expires on its own schedule (90 days), however often it
was used. The account's configuration holds the consent's token and belongs to the
timeline API, so the fetcher keeps the newest token itself, by account id, sealed with
the deployment's secrets key. The entry also records a digest of the consent's token:
after a new consent (a new token in the configuration) the kept one no longer applies.
One replica syncs an account at a time, so each entry has one writer (ADR 0007).
"""

import hashlib

from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document
from crm_runtime.secrets import SecretBox, SecretDecryptionError

COLLECTION = "oauth_rotated_tokens"


def consent_digest(refresh_token: SecretStr) -> str:
    """Which consent a kept token descends from (a digest: never the token itself)."""
    return hashlib.sha256(refresh_token.get_secret_value().encode()).hexdigest()


class RotatedTokens:
    """The newest refresh token of each account, where the provider rotated it."""

    def __init__(self, db: AsyncDatabase[Document], box: SecretBox) -> None:
        self._collection = db[COLLECTION]
        self._box = box

    async def newest(self, account_id: str, consent: SecretStr) -> SecretStr:
        """The token to use: the kept one when it descends from this consent, else it."""
        doc = await self._collection.find_one({"_id": account_id})
        if doc is None or doc.get("consent") != consent_digest(consent):
            return consent
        sealed = str(doc["sealed"])
        try:
            token = self._box.open(sealed)
        except SecretDecryptionError:  # sealed with a key since replaced: start over
            return consent
        if not self._box.is_current(sealed):  # keys rotated: seal it with the new one
            await self._collection.update_one(
                {"_id": account_id}, {"$set": {"sealed": self._box.reseal(sealed)}}
            )
        return token

    async def keep(self, account_id: str, consent: SecretStr, newest: SecretStr) -> None:
        """Remember the token the provider handed out last for this consent."""
        doc = {
            "consent": consent_digest(consent),
            "sealed": self._box.seal(newest.get_secret_value()),
        }
        await self._collection.replace_one({"_id": account_id}, doc, upsert=True)

    async def forget(self, account_id: str) -> None:
        """Drop the kept token (the account was disconnected)."""
        await self._collection.delete_one({"_id": account_id})
