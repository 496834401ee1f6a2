"""Opaque keyset cursors."""

import base64
from datetime import UTC, datetime

import pytest

from timeline_api.domain.pagination import (
    Cursor,
    InvalidCursorError,
    decode_cursor,
    encode_cursor,
    next_cursor,
)

AT = datetime(2026, 3, 1, 9, 30, 15, 123000, tzinfo=UTC)


def test_a_cursor_round_trips() -> None:
    cursor = Cursor(AT, "thread-42")

    assert decode_cursor(encode_cursor(cursor)) == cursor


@pytest.mark.parametrize(
    "token",
    [
        "not base64 at all!",
        base64.urlsafe_b64encode(b"[1, 2, 3]").decode(),
        base64.urlsafe_b64encode(b'["yesterday", "thread-1"]').decode(),
        base64.urlsafe_b64encode(b'["2026-03-01T09:30:00", "thread-1"]').decode(),
        base64.urlsafe_b64encode(b'["2026-03-01T09:30:00+00:00", 7]').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "",
    ],
)
def test_a_tampered_cursor_is_refused(token: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(token)


def test_there_is_a_next_page_only_when_more_rows_came_than_asked() -> None:
    rows = [Cursor(AT, f"t{i}") for i in range(3)]

    assert next_cursor(rows[:2], limit=2) is None
    token = next_cursor(rows, limit=2)
    assert token is not None
    assert decode_cursor(token) == rows[1]
