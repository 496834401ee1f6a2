"""Keyset pagination: newest first, by an opaque cursor that names the last row seen.

A cursor is the URL-safe base64 of ``[sort value as ISO 8601, id]``. It is opaque to
clients; a cursor that does not decode is an error they can act on, not a crash.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class InvalidCursorError(ValueError):
    """A cursor that was not made by this API, or was altered."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """The last row of a page: its sort value and its id, the tie-breaker."""

    at: datetime
    id: str


def encode_cursor(cursor: Cursor) -> str:
    """The opaque form of a cursor."""
    raw = json.dumps([cursor.at.isoformat(), cursor.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    """The cursor behind an opaque token; ``InvalidCursorError`` when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        at, item_id = json.loads(raw)
        when = datetime.fromisoformat(at)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as error:
        raise InvalidCursorError("cursor is not valid: start again without it") from error
    if not isinstance(item_id, str) or not item_id or when.tzinfo is None:
        raise InvalidCursorError("cursor is not valid: start again without it")
    return Cursor(when, item_id)


def next_cursor(page: list[Cursor], limit: int) -> str | None:
    """The cursor of the page after this one, or None when this page is the last.

    The store fetches ``limit + 1`` rows; a full extra row means there is more.
    """
    if len(page) <= limit:
        return None
    return encode_cursor(page[limit - 1])
