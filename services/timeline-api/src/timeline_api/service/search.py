"""Searching people, companies and opportunities: the records API's ``?q=`` and the web
app's search, one page at a time.

A query becomes folded words and a token becomes a cursor here (``domain.search``); the
read model answers the page (``ports.records.RecordReader``), in the asking member's workspace.
"""

from dataclasses import dataclass
from typing import Generic, TypeVar

from crm_schemas.records import CompanyUpserted, OpportunityUpserted, PersonUpserted
from timeline_api.domain.search import (
    Found,
    NameCursor,
    decode_name_cursor,
    encode_name_cursor,
    query_words,
)
from timeline_api.ports.records import RecordReader

T = TypeVar("T")
SEARCH_LIMIT = 20
"""Results a page holds unless asked otherwise."""
MAX_SEARCH_LIMIT = 50


@dataclass(frozen=True, slots=True)
class Results(Generic[T]):
    """A page of results and the token of the next page (None: this is the last)."""

    items: list[T]
    next_cursor: str | None


def _results(found: Found[T]) -> Results[T]:
    return Results(found.items, encode_name_cursor(found.next) if found.next else None)


def _after(cursor: str | None) -> NameCursor | None:
    return decode_name_cursor(cursor) if cursor else None


class RecordSearch:
    """Finds records by name, address or domain; ``InvalidSearchError`` for an empty
    query or a cursor that is not ours."""

    def __init__(self, records: RecordReader) -> None:
        self._records = records

    async def people(
        self, workspace_id: str, q: str, cursor: str | None = None, limit: int = SEARCH_LIMIT
    ) -> Results[PersonUpserted]:
        """People by name, address or domain."""
        words, after = query_words(q), _after(cursor)
        return _results(await self._records.search_people(workspace_id, words, after, limit))

    async def companies(
        self, workspace_id: str, q: str, cursor: str | None = None, limit: int = SEARCH_LIMIT
    ) -> Results[CompanyUpserted]:
        """Companies by name or domain."""
        words, after = query_words(q), _after(cursor)
        return _results(await self._records.search_companies(workspace_id, words, after, limit))

    async def opportunities(
        self, workspace_id: str, q: str, cursor: str | None = None, limit: int = SEARCH_LIMIT
    ) -> Results[OpportunityUpserted]:
        """Opportunities by name."""
        words, after = query_words(q), _after(cursor)
        found = await self._records.search_opportunities(workspace_id, words, after, limit)
        return _results(found)
