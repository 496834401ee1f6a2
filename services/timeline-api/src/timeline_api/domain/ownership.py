"""Rules of the records API: who owns an address or a domain, what a merge makes.

Pure functions over plain values; the records writer does the I/O around them.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm_schemas.base import utcnow
from crm_schemas.ids import normalize_email
from crm_schemas.records import PersonUpserted


class RecordError(Exception):
    """A records API request that cannot be done as asked; the message says why."""


class NotFoundError(RecordError):
    """No such record (404)."""


class ConflictError(RecordError):
    """An address or domain belongs to another record, or the record exists (409)."""

    def __init__(self, message: str, owner_id: str | None = None) -> None:
        super().__init__(message)
        self.owner_id = owner_id


class InvalidError(RecordError):
    """An input the request models could not check themselves (422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class MovedError(RecordError):
    """The person was merged into another (308 to the survivor)."""

    def __init__(self, person_id: str, merged_into: str) -> None:
        super().__init__(f"person {person_id} was merged into {merged_into}")
        self.merged_into = merged_into


def normalized_emails(emails: Iterable[str]) -> tuple[str, ...]:
    """Addresses trimmed and lower-cased, each once, in their order (the first is primary)."""
    return tuple(dict.fromkeys(normalize_email(e) for e in emails if e.strip()))


def normalized_domains(domains: Iterable[str]) -> tuple[str, ...]:
    """Domains trimmed, lower-cased, without a trailing dot or a leading ``@``, each once."""
    return tuple(dict.fromkeys(d.strip().lower().strip(".").lstrip("@") for d in domains if d))


def index_key(workspace_id: str, value: str) -> str:
    """The ``_id`` of an address's or a domain's owner entry in a workspace."""
    return f"{workspace_id}:{value.strip().lower()}"


@dataclass(frozen=True, slots=True)
class Claim:
    """Who owns a value now: the record id, and whether that record was merged away."""

    value: str
    owner_id: str | None
    owner_merged: bool = False


def conflicting(
    claims: Iterable[Claim], record_id: str, absorbing: str | None = None
) -> Claim | None:
    """The first value that another live record owns, if any.

    A value owned by nobody, by this record, by a person merged away, or by the person
    this record is absorbing in a merge (``absorbing``) is free.
    """
    mine = {record_id, absorbing}
    for claim in claims:
        if claim.owner_id is not None and claim.owner_id not in mine and not claim.owner_merged:
            return claim
    return None


def next_version(previous: datetime | None, now: datetime | None = None) -> datetime:
    """The ``updated_at`` of a new version: now, and always later than the stored one,
    so every consumer's only-if-newer write takes it."""
    current = now or utcnow()
    if previous is not None and current <= previous:
        return previous + timedelta(milliseconds=1)
    return current


def merged_pair(
    survivor: PersonUpserted, absorbed: PersonUpserted, at: datetime
) -> tuple[PersonUpserted, PersonUpserted]:
    """The survivor with the absorbed person's addresses added after its own, and the
    absorbed person pointing at the survivor. The survivor keeps its name, and its
    company, else takes the absorbed person's."""
    if survivor.person_id == absorbed.person_id:
        raise InvalidError("from", "a person cannot be merged into itself")
    if survivor.workspace_id != absorbed.workspace_id:
        raise InvalidError("from", "both people must be in the same workspace")
    if absorbed.merged_into is not None:
        raise InvalidError("from", f"person {absorbed.person_id} was already merged")
    kept = survivor.model_copy(
        update={
            "emails": normalized_emails((*survivor.emails, *absorbed.emails)),
            "company_id": survivor.company_id or absorbed.company_id,
            "updated_at": at,
        }
    )
    gone = absorbed.model_copy(update={"merged_into": survivor.person_id, "updated_at": at})
    return kept, gone
