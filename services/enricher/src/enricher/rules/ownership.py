"""Who owns an address or a domain, what a change by hand may do, what a merge makes.

The rules of the records API's changes, applied by the records' one writer (the enricher,
docs/adr/0029): pure functions over plain values. A change that cannot be done raises
``Refused``, which the writer answers with (404, 409 or 422 at the API).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from crm_schemas.base import utcnow
from crm_schemas.ids import normalize_email
from crm_schemas.records import PersonUpserted

Status = Literal["not_found", "conflict", "invalid"]


class Refused(Exception):  # noqa: N818 - reads as what happened to the command
    """A command that cannot be done as asked: the answer's status, and why in words."""

    def __init__(
        self,
        status: Status,
        detail: str,
        *,
        field_name: str | None = None,
        owner_id: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail
        self.field_name, self.owner_id = field_name, owner_id


def invalid(field_name: str, detail: str) -> Refused:
    """An input that cannot be used (422 at the API)."""
    return Refused("invalid", detail, field_name=field_name)


def emails_of(values: Iterable[str]) -> tuple[str, ...]:
    """Addresses trimmed and lower-cased, each once, in their order (the first is primary)."""
    return tuple(dict.fromkeys(normalize_email(v) for v in values if v.strip()))


def domains_of(values: Iterable[str]) -> tuple[str, ...]:
    """Domains trimmed, lower-cased, without a trailing dot or a leading ``@``, each once."""
    return tuple(dict.fromkeys(v.strip().lower().strip(".").lstrip("@") for v in values if v))


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


def taken(claim: Claim, what: str) -> Refused:
    """The answer to a change that would take a value another record has (409)."""
    if what == "person":
        detail = (
            f"address {claim.value} belongs to person {claim.owner_id}: "
            "change or merge that person instead"
        )
    else:
        detail = f"domain {claim.value} belongs to company {claim.owner_id}"
    return Refused("conflict", detail, owner_id=claim.owner_id)


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
        raise invalid("from", "a person cannot be merged into itself")
    if survivor.workspace_id != absorbed.workspace_id:
        raise invalid("from", "both people must be in the same workspace")
    if absorbed.merged_into is not None:
        raise invalid("from", f"person {absorbed.person_id} was already merged")
    kept = survivor.model_copy(
        update={
            "emails": emails_of((*survivor.emails, *absorbed.emails)),
            "company_id": survivor.company_id or absorbed.company_id,
            "updated_at": at,
        }
    )
    gone = absorbed.model_copy(update={"merged_into": survivor.person_id, "updated_at": at})
    return kept, gone
