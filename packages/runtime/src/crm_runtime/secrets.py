"""Passwords and tokens at rest: encrypted with the deployment's keys, never logged.

The secrets key setting holds one Fernet key, or several separated by commas while keys
are rotated: the first seals every new secret, and every one of them opens. There is no
default key: a key in the source would open every stored password for anyone who has the
source, so a service without one refuses to start (``require_secrets_key``).
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from crm_runtime.settings import ConfigurationError, ServiceSettings, setting_name


class SecretDecryptionError(Exception):
    """A stored secret cannot be read with the configured keys."""


class SecretsKeyError(ValueError):
    """The secrets key setting is missing or is not made of Fernet keys."""


def new_secrets_key() -> str:
    """A fresh Fernet key (urlsafe base64 of 32 random bytes)."""
    return Fernet.generate_key().decode()


def parse_secrets_keys(keys: SecretStr) -> list[Fernet]:
    """The Fernet keys of a secrets key setting, the sealing one first."""
    parts = [part.strip() for part in keys.get_secret_value().split(",") if part.strip()]
    if not parts:
        raise SecretsKeyError("no secrets key is set")
    try:
        return [Fernet(part.encode()) for part in parts]
    except ValueError as error:
        raise SecretsKeyError(
            "the secrets key is not a Fernet key (urlsafe base64 of 32 bytes)"
        ) from error


class SecretBox:
    """Seals secrets with the first configured key and opens them with any of them."""

    def __init__(self, keys: SecretStr) -> None:
        fernets = parse_secrets_keys(keys)
        self._sealing = fernets[0]
        self._fernet = MultiFernet(fernets)

    def seal(self, secret: str) -> str:
        """The ciphertext of a secret, safe to store and publish."""
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> SecretStr:
        """The secret behind a ciphertext, wrapped so it never prints."""
        try:
            return SecretStr(self._fernet.decrypt(sealed.encode()).decode())
        except InvalidToken as error:
            raise SecretDecryptionError("stored secret does not match the secrets keys") from error

    def is_current(self, sealed: str) -> bool:
        """Whether a ciphertext is sealed with the first key (nothing to rotate)."""
        try:
            self._sealing.decrypt(sealed.encode())
        except InvalidToken:
            return False
        return True

    def reseal(self, sealed: str) -> str:
        """The same secret sealed with the first key (key rotation); unchanged in meaning."""
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken as error:
            raise SecretDecryptionError("stored secret does not match the secrets keys") from error


def secret_box(settings: ServiceSettings) -> SecretBox:
    """The deployment's SecretBox; a ConfigurationError naming the setting when it has no
    usable key (a service that seals or opens secrets refuses to start without one)."""
    try:
        return SecretBox(settings.secrets_key)
    except SecretsKeyError as error:
        raise ConfigurationError(
            f"{setting_name(settings, 'secrets_key')}: {error}. Set the deployment's own key"
            " (the same in every service; `crm-admin new-secrets-key` makes one); on the local"
            " stack it is SECRETS_KEY in `scripts/stack.sh env`."
        ) from None


def push_keys(keys: SecretStr) -> list[bytes]:
    """The keys that sign and check push subscriptions' marks (``crm_schemas.push``), one
    per secrets key in the same order: derived with HKDF, so a mark shown to a provider
    says nothing about the key that seals passwords."""
    parse_secrets_keys(keys)  # the same refusal as the box's for a missing or bad key
    parts = [part.strip() for part in keys.get_secret_value().split(",") if part.strip()]
    return [
        HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"crm push marks v1").derive(
            part.encode()
        )
        for part in parts
    ]
