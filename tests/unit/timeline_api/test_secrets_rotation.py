"""Key rotation over an account's configuration: every secret sealed with the new key."""

from pydantic import SecretStr

from crm_runtime.secrets import SecretBox, new_secrets_key
from crm_schemas.config import (
    AccountConfigured,
    CalDavConnection,
    ImapConnection,
    OAuthConnection,
    OAuthProvider,
    SmtpConnection,
)
from timeline_api.service.secrets_rotation import resealed_account

OLD, NEW = new_secrets_key(), new_secrets_key()
OLD_BOX, ROTATING, NEW_BOX = (
    SecretBox(SecretStr(OLD)),
    SecretBox(SecretStr(f"{NEW},{OLD}")),
    SecretBox(SecretStr(NEW)),
)


def _account(box: SecretBox) -> AccountConfigured:
    sealed = box.seal("password")
    return AccountConfigured(
        account_id="acc",
        workspace_id="ws",
        owner_member_id="m",
        email="owner@acme.test",
        imap=ImapConnection(host="imap", port=993, username="u", password_encrypted=sealed),
        smtp=SmtpConnection(host="smtp", port=587, username="u", password_encrypted=sealed),
        caldav=CalDavConnection(url="https://dav/", username="u", password_encrypted=sealed),
        oauth=OAuthConnection(
            provider=OAuthProvider.GOOGLE, refresh_token_encrypted=box.seal("refresh")
        ),
    )


def test_every_secret_of_an_account_is_sealed_with_the_new_key() -> None:
    before = _account(OLD_BOX)
    after = resealed_account(before, ROTATING)
    assert after is not None
    assert after.updated_at >= before.updated_at
    assert after.imap
    assert after.smtp
    assert after.caldav
    assert after.oauth
    for sealed in (
        after.imap.password_encrypted,
        after.smtp.password_encrypted,
        after.caldav.password_encrypted,
    ):
        assert NEW_BOX.open(sealed).get_secret_value() == "password"
    assert NEW_BOX.open(after.oauth.refresh_token_encrypted).get_secret_value() == "refresh"
    assert after.model_dump(exclude={"imap", "smtp", "caldav", "oauth", "updated_at"}) == (
        before.model_dump(exclude={"imap", "smtp", "caldav", "oauth", "updated_at"})
    )


def test_an_account_sealed_with_the_new_key_already_is_left_alone() -> None:
    assert resealed_account(_account(NEW_BOX), ROTATING) is None
