"""The records API's refusals, and the shape its inputs are sent in.

People and companies have one writer, the enricher (docs/adr/0029): it decides who owns
an address or a domain and what a merge makes, and answers each change with an outcome
that becomes one of these errors. Opportunities are this API's own.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta

from crm_schemas.base import utcnow
from crm_schemas.ids import normalize_email


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


class UnavailableError(RecordError):
    """The records' writer did not answer in time (503); the change may still be done."""


def normalized_emails(emails: Iterable[str]) -> tuple[str, ...]:
    """Addresses trimmed and lower-cased, each once, in their order (the first is primary)."""
    return tuple(dict.fromkeys(normalize_email(e) for e in emails if e.strip()))


def normalized_domains(domains: Iterable[str]) -> tuple[str, ...]:
    """Domains trimmed, lower-cased, without a trailing dot or a leading ``@``, each once."""
    return tuple(dict.fromkeys(d.strip().lower().strip(".").lstrip("@") for d in domains if d))


def next_version(previous: datetime | None, now: datetime | None = None) -> datetime:
    """The ``updated_at`` of an opportunity's new version: now, and always later than the
    stored one, so every consumer's only-if-newer write takes it."""
    current = now or utcnow()
    if previous is not None and current <= previous:
        return previous + timedelta(milliseconds=1)
    return current
