"""A refresh token the provider rotated stays usable across a rotation of the secrets key."""

from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document
from crm_runtime.secrets import SecretBox, new_secrets_key
from fetcher.adapters.oauth_tokens import COLLECTION, RotatedTokens


async def test_a_kept_token_is_sealed_again_with_the_new_key_when_first_read(
    db: AsyncDatabase[Document],
) -> None:
    old, new = new_secrets_key(), new_secrets_key()
    consent, rotated = SecretStr("consent-token"), SecretStr("rotated-token")
    await RotatedTokens(db, SecretBox(SecretStr(old))).keep("acc-1", consent, rotated)

    during = RotatedTokens(db, SecretBox(SecretStr(f"{new},{old}")))
    assert (await during.newest("acc-1", consent)).get_secret_value() == "rotated-token"

    stored = await db[COLLECTION].find_one({"_id": "acc-1"})
    assert stored is not None
    new_only = SecretBox(SecretStr(new))
    assert new_only.open(str(stored["sealed"])).get_secret_value() == "rotated-token"
    after = RotatedTokens(db, new_only)
    assert (await after.newest("acc-1", consent)).get_secret_value() == "rotated-token"
