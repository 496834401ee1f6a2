"""Addresses from message headers: decoded, validated, lower-cased, never fatal."""

import re
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses
from functools import lru_cache

from crm_schemas.base import Address
from crm_schemas.ids import normalize_email

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
    """Text with its RFC 2047 encoded words decoded; the text as it was if they are broken."""
    try:
        return str(make_header(decode_header(text)))
    except (LookupError, ValueError, UnicodeDecodeError):
        return text


def _clean_name(name: str) -> str | None:
    name = " ".join(decode_words(name).split()).strip().strip('"').strip()
    return name or None


def _parsed_pairs(message: Message, header: str) -> list[tuple[str, str]]:
    """(display name, address) pairs through the modern parser, which knows groups.

    Only this header goes through it (as ``EmailMessage.get_all`` would), whatever policy
    parsed the message: the modern header registry is slow for every other header."""
    pairs: list[tuple[str, str]] = []
    for name, raw in message.raw_items():
        if name.lower() == header:
            pairs += _modern_pairs(name, bounded_addresses(str(raw)))
    return pairs


def bounded_addresses(value: str) -> str:
    """An address header value cut to ``MAX_ADDRESS_HEADER_CHARS``, at an address boundary."""
    if len(value) <= MAX_ADDRESS_HEADER_CHARS:
        return value
    return value[:MAX_ADDRESS_HEADER_CHARS].rsplit(",", 1)[0]


@lru_cache(maxsize=4096)
def _modern_pairs(name: str, raw: str) -> tuple[tuple[str, str], ...]:
    """One header value's pairs. Cached: the same values come again and again (the
    owner's address in every To, a client's in every From), and parsing is the slow part
    of a fetch."""
    value = policy.default.header_fetch_parse(name, raw)
    return tuple((a.display_name, a.addr_spec) for a in getattr(value, "addresses", ()))


def _raw_pairs(message: Message, header: str) -> list[tuple[str, str]]:
    """The same, through the lenient legacy parser, for headers the modern one chokes on."""
    raw = [value for name, value in message.raw_items() if name.lower() == header.lower()]
    return getaddresses([bounded_addresses(str(value)) for value in raw])


def header_addresses(message: Message, header: str) -> tuple[Address, ...]:
    """Every valid address of an address header, group members included, each once.

    Invalid or empty entries (``undisclosed-recipients:;``, ``<>``, ``x@@y``) are skipped.
    """
    try:
        pairs = _parsed_pairs(message, header)
    except (IndexError, ValueError, TypeError, AttributeError):
        pairs = _raw_pairs(message, header)
    seen: set[str] = set()
    found: list[Address] = []
    for name, addr in pairs:
        email = normalize_email(addr or "")
        if not is_valid_address(email) or email in seen:
            continue
        seen.add(email)
        found.append(Address(email=email, name=_clean_name(name or "")))
        if len(found) == MAX_ADDRESSES_PER_HEADER:
            break
    return tuple(found)
