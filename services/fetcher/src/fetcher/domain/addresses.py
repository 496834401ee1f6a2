"""Addresses from message headers: decoded, validated, lower-cased, never fatal."""

import re
from dataclasses import dataclass
from email import policy
from email.header import decode_header, make_header
from email.utils import getaddresses
from functools import lru_cache

from crm_schemas.base import Address
from crm_schemas.ids import normalize_email
from fetcher.domain.headers import Headers
from fetcher.domain.text import without_stray_surrogates

# Bounds for hostile or broken headers: a header value is cut (at an address boundary)
# before it is parsed, and a header yields at most so many addresses. Real mail stays far
# below both; a 20,000-recipient To would otherwise take the parser most of a minute and
# make a RawMessage too large for Kafka (1 MB), blocking its folder.
MAX_ADDRESS_HEADER_CHARS = 65536
MAX_ADDRESSES_PER_HEADER = 1000

_VALID = re.compile(r"^[^@\s<>,;:\"()\[\]]+@[^@\s<>,;:\"()\[\]]+$")


def is_valid_address(address: str) -> bool:
    """Whether a string looks like a deliverable ``local@domain`` address."""
    return bool(_VALID.match(address)) and not address.endswith(".")


def decode_words(text: str) -> str:
    """Text with its RFC 2047 encoded words decoded; the text as it was if they are broken.
    Never a lone surrogate, whatever charset an encoded word names."""
    try:
        decoded = str(make_header(decode_header(text)))
    except (LookupError, ValueError, UnicodeDecodeError):
        decoded = text
    return without_stray_surrogates(decoded)


def _clean_name(name: str) -> str | None:
    name = " ".join(decode_words(name).split()).strip().strip('"').strip()
    return name or None


def bounded_addresses(value: str) -> str:
    """An address header value cut to ``MAX_ADDRESS_HEADER_CHARS``, at an address boundary."""
    if len(value) <= MAX_ADDRESS_HEADER_CHARS:
        return value
    return value[:MAX_ADDRESS_HEADER_CHARS].rsplit(",", 1)[0]


@lru_cache(maxsize=4096)
def _modern_pairs(name: str, raw: str) -> tuple[tuple[str, str], ...]:
    """One header value's (display name, address) pairs through the modern parser, which
    knows groups. Only address headers go through it (as ``EmailMessage.get_all`` would),
    whatever policy parsed the message: the modern header registry is slow for every
    other header. Cached: the same values come again and again (the owner's address in
    every To, a client's in every From), and parsing is the slow part of a fetch."""
    value = policy.default.header_fetch_parse(name, raw)
    return tuple((a.display_name, a.addr_spec) for a in getattr(value, "addresses", ()))


def _pairs(header: str, values: list[str]) -> list[tuple[str, str]]:
    try:
        return [pair for value in values for pair in _modern_pairs(header, value)]
    except (IndexError, ValueError, TypeError, AttributeError):
        # the lenient legacy parser, for headers the modern one chokes on
        return getaddresses(values)


@dataclass(frozen=True, slots=True)
class HeaderAddresses:
    """The addresses kept of an address header, and whether it held more than that."""

    addresses: tuple[Address, ...]
    cut: bool = False


def header_addresses(headers: Headers, header: str) -> HeaderAddresses:
    """Every valid address of an address header, group members included, each once, up
    to ``MAX_ADDRESSES_PER_HEADER`` (and ``MAX_ADDRESS_HEADER_CHARS`` of it read): ``cut``
    says when there was more.

    Invalid or empty entries (``undisclosed-recipients:;``, ``<>``, ``x@@y``) are skipped.
    """
    values = headers.values(header)
    cut = any(len(value) > MAX_ADDRESS_HEADER_CHARS for value in values)
    pairs = _pairs(header, [bounded_addresses(value) for value in values])
    seen: set[str] = set()
    found: list[Address] = []
    for index, (name, addr) in enumerate(pairs):
        email = normalize_email(addr or "")
        if not is_valid_address(email) or email in seen:
            continue
        seen.add(email)
        found.append(Address(email=email, name=_clean_name(name or "")))
        if len(found) == MAX_ADDRESSES_PER_HEADER:
            cut = cut or index < len(pairs) - 1
            break
    return HeaderAddresses(tuple(found), cut)
