"""Key rotation: every stored secret sealed again with the deployment's first key.

An account's passwords and refresh token travel sealed in its configuration (the API's
directory and the config topic every service projects). While keys rotate, the secrets
key setting lists the new key first and the old ones after it: every service opens what
either sealed. This use case then seals each account's secrets with the new key and
publishes the account's new version, after which the old key can be removed.
"""

from dataclasses import dataclass

from crm_runtime.secrets import SecretBox
from crm_schemas.base import utcnow
from crm_schemas.config import AccountConfigured
from timeline_api.ports.accounts import Directory


@dataclass(frozen=True, slots=True)
class RotationReport:
    """What a rotation did: accounts seen, and how many had secrets sealed anew."""

    accounts: int
    resealed: int


def resealed_account(account: AccountConfigured, box: SecretBox) -> AccountConfigured | None:
    """The account with every secret sealed with the first key, or None when each already
    is (nothing to publish). Raises SecretDecryptionError when a secret opens with none of
    the configured keys."""
    changes: dict[str, object] = {}
    for name in ("imap", "smtp", "caldav"):
        connection = getattr(account, name)
        if connection is not None and not box.is_current(connection.password_encrypted):
            sealed = box.reseal(connection.password_encrypted)
            changes[name] = connection.model_copy(update={"password_encrypted": sealed})
    oauth = account.oauth
    if oauth is not None and not box.is_current(oauth.refresh_token_encrypted):
        sealed = box.reseal(oauth.refresh_token_encrypted)
        changes["oauth"] = oauth.model_copy(update={"refresh_token_encrypted": sealed})
    if not changes:
        return None
    return account.model_copy(update=changes | {"updated_at": utcnow()})


async def rotate_secrets(directory: Directory, box: SecretBox) -> RotationReport:
    """Seal every account's secrets with the first key and publish each changed account."""
    accounts = await directory.all_accounts()
    resealed = 0
    for account in accounts:
        changed = resealed_account(account, box)
        if changed is not None:
            await directory.save_account(changed)
            resealed += 1
    return RotationReport(accounts=len(accounts), resealed=resealed)
