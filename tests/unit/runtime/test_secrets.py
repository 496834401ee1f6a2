"""Secrets at rest: the deployment's own key, rotation, and no default key anywhere."""

import os
import subprocess
import sys

import pytest
from pydantic import SecretStr

from crm_runtime.secrets import (
    SecretBox,
    SecretDecryptionError,
    SecretsKeyError,
    new_secrets_key,
    secret_box,
)
from crm_runtime.settings import ConfigurationError, ServiceSettings
from fetcher.settings import FetcherSettings


def test_a_sealed_password_opens_with_the_same_key_and_never_prints() -> None:
    box = SecretBox(SecretStr(new_secrets_key()))
    sealed = box.seal("hunter2")
    assert "hunter2" not in sealed
    opened = box.open(sealed)
    assert opened.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(opened)


def test_a_password_sealed_with_another_key_cannot_be_opened() -> None:
    sealed = SecretBox(SecretStr(new_secrets_key())).seal("hunter2")
    with pytest.raises(SecretDecryptionError):
        SecretBox(SecretStr(new_secrets_key())).open(sealed)


def test_during_a_rotation_the_new_key_seals_and_the_old_one_still_opens() -> None:
    old, new = new_secrets_key(), new_secrets_key()
    sealed_before = SecretBox(SecretStr(old)).seal("hunter2")
    rotating = SecretBox(SecretStr(f"{new}, {old}"))
    assert rotating.open(sealed_before).get_secret_value() == "hunter2"
    resealed = rotating.reseal(sealed_before)
    after = SecretBox(SecretStr(new))
    assert after.open(resealed).get_secret_value() == "hunter2"
    assert after.open(rotating.seal("other")).get_secret_value() == "other"


@pytest.mark.parametrize("key", ["", " , ", "not-a-fernet-key"])
def test_a_missing_or_malformed_key_is_refused(key: str) -> None:
    with pytest.raises(SecretsKeyError):
        SecretBox(SecretStr(key))


def test_the_source_holds_no_default_key() -> None:
    default = ServiceSettings.model_fields["secrets_key"].default
    assert default.get_secret_value() == ""


def test_a_service_without_a_key_is_told_which_setting_to_set() -> None:
    settings = FetcherSettings(secrets_key=SecretStr(""))
    with pytest.raises(ConfigurationError, match="FETCHER_SECRETS_KEY"):
        secret_box(settings)


@pytest.mark.parametrize(
    ("command", "variable"),
    [
        (["-m", "fetcher", "worker"], "FETCHER_SECRETS_KEY"),
        (["-m", "timeline_api"], "TIMELINE_SECRETS_KEY"),
    ],
)
def test_a_service_without_a_key_refuses_to_start_in_one_clear_line(
    command: list[str], variable: str
) -> None:
    env = dict(os.environ) | {variable: ""}
    done = subprocess.run(
        [sys.executable, *command], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert variable in done.stderr
    assert "Traceback" not in done.stderr


def test_a_secret_is_current_only_when_sealed_with_the_first_key() -> None:
    old, new = new_secrets_key(), new_secrets_key()
    rotating = SecretBox(SecretStr(f"{new},{old}"))
    assert not rotating.is_current(SecretBox(SecretStr(old)).seal("x"))
    assert rotating.is_current(rotating.seal("x"))
