"""Reading imaplib's raw LIST and UID FETCH answers."""

from datetime import UTC, datetime, timedelta, timezone

from fetcher.adapters.imap_parse import parse_fetch, parse_internaldate, parse_list


def test_list_lines_become_folders_with_flags():
    folders = parse_list(
        [
            b'(\\HasNoChildren \\Sent) "/" Sent',
            b'(\\HasNoChildren) "." "Sent Items"',
            b"(\\Noselect) NIL Shared",
            None,
        ]
    )
    assert [(f.name, f.delimiter) for f in folders] == [
        ("Sent", "/"),
        ("Sent Items", "."),
        ("Shared", None),
    ]
    assert "\\Sent" in folders[0].flags
    assert not folders[2].selectable


def test_a_list_name_sent_as_a_literal_is_read():
    (folder,) = parse_list([(b'(\\HasNoChildren) "/" {11}', b'Odd "name"')])
    assert folder.name == 'Odd "name"'


def test_a_quoted_name_with_escapes_is_unquoted():
    (folder,) = parse_list([b'() "/" "Say \\"hi\\""'])
    assert folder.name == 'Say "hi"'


def test_internaldate_is_parsed_with_its_zone():
    parsed = parse_internaldate(b" 7-Jul-2024 02:44:25 -0700")
    assert parsed == datetime(2024, 7, 7, 2, 44, 25, tzinfo=timezone(timedelta(hours=-7)))
    assert parsed.astimezone(UTC).hour == 9


def test_an_unreadable_internaldate_is_none():
    assert parse_internaldate(b"yesterday") is None


def test_fetch_items_are_grouped_per_message():
    data = [
        (
            b'1 (UID 5 INTERNALDATE "01-Jan-2024 10:00:00 +0000" RFC822.SIZE 120 BODY[HEADER] {10}',
            b"Subject: a",
        ),
        (b" BODY[TEXT]<0> {4}", b"body"),
        b")",
        (b"2 (BODY[HEADER] {10}", b"Subject: b"),
        (b" BODY[TEXT]<0> {2}", b"hi"),
        b' UID 9 RFC822.SIZE 12 INTERNALDATE "02-Jan-2024 10:00:00 +0000")',
    ]
    first, second = parse_fetch(data)
    assert (first.uid, first.header, first.text, first.size) == (5, b"Subject: a", b"body", 120)
    assert first.internal_date == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert (second.uid, second.header, second.text, second.size) == (9, b"Subject: b", b"hi", 12)


def test_an_empty_text_sent_inline_is_empty():
    data = [(b"1 (UID 3 BODY[HEADER] {7}", b"X: y\r\n\r\n"), b' BODY[TEXT]<0> "")']
    (message,) = parse_fetch(data)
    assert message.text == b""
    assert message.header == b"X: y\r\n\r\n"


def test_a_literal_that_mentions_uid_does_not_confuse_the_parser():
    data = [(b"1 (UID 3 BODY[HEADER] {12}", b"X: UID 999\r\n"), b")"]
    assert [m.uid for m in parse_fetch(data)] == [3]
