"""Passwords and tokens at rest: encrypted with a key from settings, never logged."""

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr


class SecretDecryptionError(Exception):
    """A stored secret cannot be read with the configured key."""


class SecretBox:
    """Encrypts and decrypts secrets with one Fernet key."""

    def __init__(self, key: SecretStr) -> None:
        self._fernet = Fernet(key.get_secret_value().encode())

    def seal(self, secret: str) -> str:
        """The ciphertext of a secret, safe to store and publish."""
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> SecretStr:
        """The secret behind a ciphertext, wrapped so it never prints."""
        try:
            return SecretStr(self._fernet.decrypt(sealed.encode()).decode())
        except InvalidToken as error:
            raise SecretDecryptionError("stored secret does not match the secrets key") from error
