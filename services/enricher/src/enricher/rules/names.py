"""A new person's name: from the display name in the headers, else from the address."""

import re
from email.errors import HeaderParseError
from email.header import decode_header, make_header

from crm_schemas.records import PersonUpserted

_VIA = re.compile(r"\s+via\s+.+$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[._\-+]+")
_DIGITS = re.compile(r"\d+")


def person_name_from_header(display_name: str | None, email: str) -> str:
    """The name to give a person first seen as ``display_name <email>``.

    "Doe, Jane" becomes "Jane Doe"; "Jane Doe via Calendly" becomes "Jane Doe"; a name in
    all capitals is title-cased; a display name that is itself an address is ignored;
    RFC 2047 encoded words (``=?utf-8?q?Jos=C3=A9?=``) are decoded, though the fetcher
    normally decodes them first. With no usable display name the name comes from the
    local part: jane.doe -> "Jane Doe".
    """
    return name_in_header(display_name) or name_from_local_part(email)


def name_in_header(display_name: str | None) -> str:
    """The usable name in a display name, or "" when it has none (see above)."""
    return _clean_display_name(decode_encoded_words(display_name or ""))


def decode_encoded_words(raw: str) -> str:
    """A header value with its RFC 2047 encoded words decoded; unchanged when it has none."""
    if "=?" not in raw:
        return raw
    try:
        return str(make_header(decode_header(raw)))
    except (HeaderParseError, LookupError, UnicodeDecodeError):
        return raw


def _clean_display_name(raw: str) -> str:
    name = " ".join(raw.replace('"', " ").replace("'", " ").split())
    name = _VIA.sub("", name).strip()
    if not name or "@" in name:
        return ""
    if name.count(",") == 1:
        last, first = (part.strip() for part in name.split(","))
        name = f"{first} {last}".strip()
    if name.isupper() and len(name) > 3:
        name = name.title()
    return name


def name_from_local_part(email: str) -> str:
    """A readable name from an address's local part: jane_doe42 -> "Jane Doe"."""
    local = email.partition("@")[0].partition("+")[0]
    words = _SEPARATORS.sub(" ", _DIGITS.sub(" ", local)).split()
    return " ".join(w.capitalize() for w in words) or local


def better_name(person: PersonUpserted, display_name: str | None) -> str | None:
    """The name to give an existing person seen now as ``display_name``, or None to keep
    theirs.

    Only a name made from the address (for want of a display name) is ever replaced, and
    only on a person auto-created and not merged away: a display name beats a name made
    from the address, and a name typed by hand (the records API clears
    ``name_from_address``) is never replaced. Two display names are equally good: the
    first one a person got stays, so their name does not change with every message.
    """
    if not person.name_from_address or person.created_by != "auto" or person.merged_into:
        return None
    return name_in_header(display_name) or None


def remembered_name(seen: str | None, display_name: str | None) -> str | None:
    """The display name to remember for an address nobody has yet, or None to keep
    ``seen``: the first usable display name, so a person created later from a bare
    address (a meeting's attendee without a name) still gets it."""
    if seen:
        return None
    return name_in_header(display_name) or None


def new_person_name(display_name: str | None, seen: str | None, email: str) -> tuple[str, bool]:
    """A new person's name, and whether it was made from the address.

    The first display name seen for the address, before the person existed (``seen``),
    else the one seen now, else a name made from the address: so whichever order mail
    and meetings arrive in, the person ends with the same, best name.
    """
    name = seen or name_in_header(display_name)
    if name:
        return name, False
    return name_from_local_part(email), True
