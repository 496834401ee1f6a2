"""Why a mailbox or calendar cannot be read, in words its owner can act on."""

from dataclasses import dataclass
from enum import StrEnum


class ProblemKind(StrEnum):
    """What went wrong when reaching an account, from the user's point of view."""

    AUTH = "auth"
    DNS = "dns"
    CONNECTION = "connection"
    TLS = "tls"
    PROTOCOL = "protocol"
    SECRET = "secret"  # noqa: S105 - the kind of problem, not a password
    CONSENT = "consent"  # an OAuth refresh token revoked, expired or not accepted
    FORBIDDEN_HOST = "forbidden_host"  # the host resolves to a private or local address


class SyncProblem(Exception):  # noqa: N818 - a problem for the owner, not a bug
    """An account cannot be read until something changes: its owner sees why, and a remedy.

    Raised by the adapters; the sync job turns it into a ``failing`` status instead of
    retrying or dead-lettering, since retrying a wrong password only locks the account.
    """

    def __init__(self, kind: ProblemKind, protocol: str, detail: str = "") -> None:
        super().__init__(f"{protocol} {kind}: {detail}")
        self.kind = kind
        self.protocol = protocol
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Explanation:
    """A failing status's reason and remedy."""

    reason: str
    remedy: str


def explain(problem: SyncProblem) -> Explanation:
    """The reason and remedy a user reads for a problem reaching their account."""
    server = f"The {problem.protocol} server"
    match problem.kind:
        case ProblemKind.AUTH:
            return Explanation(
                f"{server} refused the password", "Update the password of this account"
            )
        case ProblemKind.DNS:
            return Explanation(
                f"{server}'s name could not be found", "Check the server name of this account"
            )
        case ProblemKind.CONNECTION:
            return Explanation(
                f"{server} could not be reached",
                "Check the server address and port; syncing retries by itself",
            )
        case ProblemKind.TLS:
            return Explanation(
                f"A secure connection to the {problem.protocol} server could not be established",
                "Check the security setting (SSL, STARTTLS or none) and the port",
            )
        case ProblemKind.SECRET:
            return Explanation(
                "The stored password of this account can no longer be read",
                "Enter the password of this account again",
            )
        case ProblemKind.FORBIDDEN_HOST:
            return Explanation(
                f"{server}'s name points at a private or local address, which accounts may not use",
                "Check the server name of this account; it must be a public server",
            )
        case ProblemKind.CONSENT:
            return Explanation(
                f"{problem.protocol} no longer accepts this account's consent",
                "Re-authorise this account",
            )
        case _:
            return Explanation(
                f"{server} answered in a way we do not understand",
                "Check the server settings; contact support if it persists",
            )


def explain_failure(error: BaseException) -> Explanation:
    """The reason and remedy for a sync job stopped by an error nobody foresaw (a bug, a
    store or broker failing); never one message's content, which is dropped instead. The
    job is retried, and the next job that succeeds says so."""
    return Explanation(
        f"The last sync stopped on an unexpected error ({type(error).__name__})",
        "Nothing to do now: syncing is retried by itself; contact support if this persists",
    )
