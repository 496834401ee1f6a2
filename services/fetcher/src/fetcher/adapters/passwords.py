"""Reading an account's stored password with the deployment's secrets key."""

from pydantic import SecretStr

from crm_runtime.secrets import SecretBox, SecretDecryptionError
from fetcher.domain.problems import ProblemKind, SyncProblem


class SealedPasswords:
    """Opens sealed passwords; one that the key cannot open is the owner's problem to fix."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box

    def __call__(self, sealed: str, protocol: str) -> SecretStr:
        """The plain password, wrapped so it never prints."""
        try:
            return self._box.open(sealed)
        except SecretDecryptionError as error:
            raise SyncProblem(ProblemKind.SECRET, protocol, str(error)) from error
