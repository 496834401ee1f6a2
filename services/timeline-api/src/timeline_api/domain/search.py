"""Finding people, companies and opportunities by name, address or domain (pure).

A record is found by its **search terms**: the words of its name, and for a person every
address and the domain of each, for a company every domain; all case- and accent-folded.
A query matches a record when each of its words starts one of the record's terms, so
"jan do", "jane@cli" and "client.test" all find Jane Doe <jane@client.test>. Results are
ordered by name (folded), then id, and paginated by a keyset cursor on that pair.
"""

import base64
import binascii
import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from crm_schemas.ids import normalize_email
from crm_schemas.records import CompanyUpserted, OpportunityUpserted, PersonUpserted

T = TypeVar("T")

MAX_WORDS = 5
"""Words of a query that count; more add nothing but cost."""
MAX_WORD_LENGTH = 100


class InvalidSearchError(ValueError):
    """A query or a cursor that cannot be searched for; the message says why."""


def fold(text: str) -> str:
    """Text as searches compare it: case-folded, accents taken off."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """The folded words of a name or a query, each once, in order."""
    return list(dict.fromkeys(w for w in fold(text).split() if w))


def query_words(query: str) -> tuple[str, ...]:
    """The words a query searches for; ``InvalidSearchError`` when there is none."""
    found = tuple(w[:MAX_WORD_LENGTH] for w in words(query)[:MAX_WORDS])
    if not found:
        raise InvalidSearchError("type part of a name, an address or a domain")
    return found


def _address_terms(emails: Iterable[str]) -> list[str]:
    terms = []
    for email in emails:
        address = normalize_email(email)
        terms += [address, address.rpartition("@")[2]]
    return terms


def person_terms(person: PersonUpserted) -> list[str]:
    """A person is found by the words of their name, their addresses and those domains."""
    return list(dict.fromkeys([*words(person.name), *_address_terms(person.emails)]))


def company_terms(company: CompanyUpserted) -> list[str]:
    """A company is found by the words of its name and its domains."""
    domains = (fold(d.strip()).lstrip("@") for d in company.domains)
    return list(dict.fromkeys([*words(company.name), *domains]))


def opportunity_terms(opportunity: OpportunityUpserted) -> list[str]:
    """An opportunity is found by the words of its name."""
    return words(opportunity.name)


def sort_key(name: str) -> str:
    """What results are ordered by: the folded name."""
    return " ".join(words(name))


def matches(terms: Sequence[str], query: Sequence[str]) -> bool:
    """Whether every word of the query starts one of the terms."""
    return all(any(t.startswith(w) for t in terms) for w in query)


@dataclass(frozen=True, slots=True)
class NameCursor:
    """The last result of a page: its sort key and its id, the tie-breaker."""

    key: str
    id: str


@dataclass(frozen=True, slots=True)
class Found(Generic[T]):
    """One page of search results, and where the next page starts (None: the last)."""

    items: list[T]
    next: NameCursor | None = None


def encode_name_cursor(cursor: NameCursor) -> str:
    """The opaque form of a search cursor."""
    raw = json.dumps([cursor.key, cursor.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_name_cursor(token: str) -> NameCursor:
    """The cursor behind a token; ``InvalidSearchError`` when it is not one of ours."""
    try:
        key, record_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as error:
        raise InvalidSearchError("cursor is not valid: search again without it") from error
    if not isinstance(key, str) or not isinstance(record_id, str) or not record_id:
        raise InvalidSearchError("cursor is not valid: search again without it")
    return NameCursor(key, record_id)


class SearchTooBroadError(InvalidSearchError):
    """A search that would take too long to answer: the query should be narrower."""
