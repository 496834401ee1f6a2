"""What a timelines tab asks for, as plain values: whose timeline, which page.

A record's timeline links by address at read time (docs/adr/0006): a person's is every
thread and meeting with one of their addresses; a company's adds its own domains and
every address of its people; an opportunity's is its company's plus that of the people
attached to it. A ``RecordScope`` names those links without saying how they are stored,
so a read model answers it however it keeps its data.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from timeline_api.domain.pagination import DEFAULT_LIMIT, Cursor

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CompanyLink:
    """A company on a timeline: its own domains, and (looked up by the read model) every
    address of its people."""

    company_id: str
    domains: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RecordScope:
    """The threads and meetings of one record: those with any of ``emails``, or linked to
    ``company``, in one workspace."""

    workspace_id: str
    emails: tuple[str, ...] = ()
    company: CompanyLink | None = None

    @classmethod
    def person(cls, workspace_id: str, emails: Sequence[str]) -> "RecordScope":
        """A person's timeline: their addresses."""
        return cls(workspace_id, tuple(emails))

    @classmethod
    def of_company(
        cls, workspace_id: str, company_id: str, domains: Sequence[str], emails: Sequence[str] = ()
    ) -> "RecordScope":
        """A company's timeline (with these further addresses: an opportunity's people)."""
        return cls(workspace_id, tuple(emails), CompanyLink(company_id, tuple(domains)))

    @property
    def domains(self) -> tuple[str, ...]:
        """The company's own domains; none for a person."""
        return self.company.domains if self.company is not None else ()


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Which page: the rows after ``after`` (from the start when None), ``limit`` of them."""

    after: Cursor | None = None
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True, slots=True)
class Window:
    """Meetings starting at or after ``starts_from`` and before ``starts_before``, newest
    first or oldest first."""

    starts_from: datetime | None = None
    starts_before: datetime | None = None
    newest_first: bool = True


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of rows, and the cursor of the page after it (None: this is the last)."""

    items: list[T]
    next: Cursor | None = None


def page_of(rows: Sequence[T], limit: int, key: Callable[[T], Cursor]) -> Page[T]:
    """The page made of ``rows`` read ``limit + 1`` at a time: a row past ``limit`` means
    there is more, and the page after this one starts after its last row."""
    items = list(rows[:limit])
    more = len(rows) > limit and bool(items)
    return Page(items, key(items[-1]) if more else None)
