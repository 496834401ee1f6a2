"""What the owner reads when an account cannot be synced."""

import pytest
from pydantic import SecretStr

from crm_runtime.secrets import SecretBox, new_secrets_key
from fetcher.adapters.passwords import SealedPasswords
from fetcher.domain.problems import ProblemKind, SyncProblem, explain, explain_failure


@pytest.mark.parametrize("kind", list(ProblemKind))
def test_every_problem_has_a_reason_and_a_remedy(kind: ProblemKind):
    explanation = explain(SyncProblem(kind, "IMAP", "detail"))
    assert explanation.reason
    assert explanation.remedy
    assert "detail" not in explanation.reason  # server chatter stays in the logs


def test_a_tls_problem_names_the_protocol():
    reason = explain(SyncProblem(ProblemKind.TLS, "IMAP")).reason
    assert reason == "A secure connection to the IMAP server could not be established"


def test_a_password_sealed_with_another_key_is_a_secret_problem():
    other = SecretBox(SecretStr("x" * 43 + "="))
    sealed = other.seal("pw")
    reader = SealedPasswords(SecretBox(SecretStr(new_secrets_key())))
    with pytest.raises(SyncProblem) as problem:
        reader(sealed, "IMAP")
    assert problem.value.kind is ProblemKind.SECRET


def test_an_unexpected_failure_names_the_error_and_says_syncing_retries():
    explanation = explain_failure(KeyError("secret detail"))
    assert explanation.reason == "The last sync stopped on an unexpected error (KeyError)"
    assert "secret detail" not in explanation.reason + explanation.remedy
    assert "retried by itself" in explanation.remedy
