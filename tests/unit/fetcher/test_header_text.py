"""Header bytes that are not UTF-8, read as text any JSON can carry."""

import pytest

from fetcher.domain.text import readable_header, truncate_utf8, without_stray_surrogates


def escaped(raw: bytes) -> str:
    """A header value as the standard library's parsers hand 8-bit bytes over."""
    return raw.decode("ascii", "surrogateescape")


def test_ascii_is_left_as_it_is():
    assert readable_header("Quarterly numbers") == "Quarterly numbers"


def test_raw_utf8_is_read_as_utf8():
    assert readable_header(escaped("Grüße aus Köln".encode())) == "Grüße aus Köln"


def test_latin1_bytes_are_read_as_windows_1252_when_the_message_names_no_charset():
    assert readable_header(escaped("Café crème".encode("latin-1"))) == "Café crème"
    assert readable_header(escaped(b"\x93quoted\x94 \x80 5")) == "\u201cquoted\u201d \u20ac 5"


def test_the_message_charset_is_used_when_the_bytes_are_not_utf8():
    koi8 = "Привет".encode("koi8-r")
    assert readable_header(escaped(koi8), "koi8-r") == "Привет"


@pytest.mark.parametrize("charset", ["utf-16", "utf-7", "unicode-escape", "no-such-charset"])
def test_a_charset_that_would_garble_ascii_or_does_not_exist_is_ignored(charset: str):
    assert readable_header(escaped("Café".encode("latin-1")), charset) == "Café"


def test_bytes_no_charset_can_read_become_replacement_characters():
    assert readable_header(escaped(b"a\x81b")) == "a\ufffdb"


def test_half_a_surrogate_pair_becomes_a_replacement_character():
    assert readable_header("emoji \ud83d cut") == "emoji \ufffd cut"
    assert without_stray_surrogates("a\ud83d\udca9b") == "a\ufffd\ufffdb"
    assert without_stray_surrogates("Grüße 💩") == "Grüße 💩"


def test_whatever_went_in_the_result_is_valid_utf8():
    for raw in (bytes(range(256)), b"\xff\xfe\xfd", "日本".encode("shift_jis")):
        readable_header(escaped(raw), "shift_jis").encode("utf-8")  # raises if not


def test_a_body_cut_to_its_bound_never_holds_a_lone_surrogate():
    assert truncate_utf8("ok \ud83d", 100) == "ok \ufffd"
