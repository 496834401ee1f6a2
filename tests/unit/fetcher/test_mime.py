"""Parsing fetched messages into RawMessage: the headers, dates, ids and bodies of real mail."""

from datetime import UTC, datetime, timedelta

from crm_schemas.ids import message_item_id
from crm_schemas.mail import FolderRole
from fetcher.domain.mime import MAX_DATE_AHEAD, MessageSource, raw_message, trusted_sent_at
from fetcher.domain.model import FetchedMessage

SOURCE = MessageSource(
    workspace_id="w1",
    account_id="a1",
    folder="INBOX",
    folder_role=FolderRole.INBOX,
    uidvalidity=7,
    include_content=True,
    body_max_bytes=1000,
)
INTERNAL = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)  # when the server received it


def parse(raw: bytes, source: MessageSource = SOURCE, uid: int = 3):
    header, _, text = raw.replace(b"\n", b"\r\n").partition(b"\r\n\r\n")
    return raw_message(FetchedMessage(uid, header + b"\r\n\r\n", text, INTERNAL), source)


SIMPLE = b"""From: Ann Example <Ann@Example.COM>
To: bob@customer.io, "Carl, C." <carl@customer.io>
Cc: dana@partner.org
Subject: Quarterly numbers
Date: Tue, 05 Mar 2024 10:15:00 +0100
Message-ID: <abc.123@example.com>
In-Reply-To: <prev@customer.io>
References: <root@customer.io>
 <prev@customer.io>
List-Id: Sales <sales.example.com>
Precedence: bulk
X-Unrelated: dropped

Hello Bob,
the numbers.
"""


def test_a_simple_message_is_parsed():
    message = parse(SIMPLE)
    assert message.message_id == "abc.123@example.com"
    assert message.item_id == message_item_id("w1", "abc.123@example.com")
    assert message.provider == "imap"
    assert message.provider_ref == "INBOX/7/3"
    assert message.subject == "Quarterly numbers"
    assert message.in_reply_to == "prev@customer.io"
    assert message.references == ("root@customer.io", "prev@customer.io")
    assert [a.email for a in message.to] == ["bob@customer.io", "carl@customer.io"]
    assert message.to[1].name == "Carl, C."
    assert [a.email for a in message.cc] == ["dana@partner.org"]


def test_addresses_are_lower_cased():
    message = parse(SIMPLE)
    assert message.from_[0].email == "ann@example.com"
    assert message.from_[0].name == "Ann Example"


def test_the_date_is_converted_to_utc():
    assert parse(SIMPLE).sent_at == datetime(2024, 3, 5, 9, 15, tzinfo=UTC)


def test_only_the_headers_the_rules_read_are_kept():
    headers = parse(SIMPLE).headers
    assert headers["list-id"] == "Sales <sales.example.com>"
    assert headers["precedence"] == "bulk"
    assert "x-unrelated" not in headers


def test_the_plain_text_body_is_kept_when_visibility_is_full():
    assert parse(SIMPLE).body_text == "Hello Bob,\r\nthe numbers."


def test_no_body_travels_when_visibility_is_not_full():
    source = MessageSource("w1", "a1", "INBOX", FolderRole.INBOX, 7, include_content=False)
    assert parse(SIMPLE, source).body_text is None


def test_an_rfc2047_display_name_is_decoded():
    raw = b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@beispiel.de>\nMessage-ID: <x@y>\n\nhi"
    assert parse(raw).from_[0].name == "Jürgen Müller"


def test_an_rfc2047_subject_is_decoded():
    raw = b"From: a@b.com\nSubject: =?utf-8?b?SGVsbG8gV8O2cmxk?=\nMessage-ID: <x@y>\n\nhi"
    assert parse(raw).subject == "Hello Wörld"


def test_an_encoded_display_name_with_a_comma_stays_one_address():
    raw = b'To: "=?utf-8?q?Doe=2C_Jane?=" <jane@doe.com>, joe@doe.com\nMessage-ID: <x@y>\n\nhi'
    message = parse(raw)
    assert [(a.email, a.name) for a in message.to] == [
        ("jane@doe.com", "Doe, Jane"),
        ("joe@doe.com", None),
    ]


def test_an_invalid_address_is_skipped_not_fatal():
    raw = b"From: a@b.com\nTo: not an address, <>, c@, x@@y, ok@z.org\nMessage-ID: <x@y>\n\nhi"
    assert [a.email for a in parse(raw).to] == ["ok@z.org"]


def test_a_header_the_strict_parser_rejects_falls_back_to_the_lenient_one():
    raw = (
        b'From: a@b.com\nTo: undisclosed-recipients:;, team: a@x.com, "B, Bob" <b@y.com>;,'
        b" not an address, <>, c@\nMessage-ID: <x@y>\n\nhi"
    )
    assert [a.email for a in parse(raw).to] == ["a@x.com", "b@y.com"]


def test_group_members_are_addresses():
    raw = b"From: a@b.com\nTo: Team: one@x.com, two@x.com;\nMessage-ID: <x@y>\n\nhi"
    assert [a.email for a in parse(raw).to] == ["one@x.com", "two@x.com"]


def test_an_undisclosed_recipients_group_gives_no_address():
    raw = b"From: a@b.com\nTo: undisclosed-recipients:;\nMessage-ID: <x@y>\n\nhi"
    assert parse(raw).to == ()


def test_an_address_repeated_in_a_header_appears_once():
    raw = b"From: a@b.com\nTo: x@y.com, X <X@Y.COM>\nMessage-ID: <x@y>\n\nhi"
    assert [a.email for a in parse(raw).to] == ["x@y.com"]


def test_a_message_without_message_id_gets_a_stable_one():
    raw = b"From: a@b.com\nSubject: no id\nDate: Tue, 05 Mar 2024 10:15:00 +0100\n\nhi"
    first, again = parse(raw), parse(raw, uid=99)
    assert first.message_id.endswith("@no-message-id.invalid")
    assert first.message_id == again.message_id
    assert first.item_id == again.item_id


def test_messages_without_message_id_but_different_subjects_differ():
    one = parse(b"From: a@b.com\nSubject: one\n\nhi")
    two = parse(b"From: a@b.com\nSubject: two\n\nhi")
    assert one.message_id != two.message_id


def test_a_message_id_is_normalised():
    raw = b"From: a@b.com\nMessage-ID:   <  Odd.ID@Host >  \n\nhi"
    assert parse(raw).message_id == "Odd.ID@Host"


def test_a_broken_date_falls_back_to_the_internal_date():
    raw = b"From: a@b.com\nDate: the day after tomorrow\nMessage-ID: <x@y>\n\nhi"
    assert parse(raw).sent_at == INTERNAL


def test_a_missing_date_falls_back_to_the_internal_date():
    assert parse(b"From: a@b.com\nMessage-ID: <x@y>\n\nhi").sent_at == INTERNAL


def test_a_date_without_zone_is_read_as_utc():
    raw = b"From: a@b.com\nDate: Tue, 05 Mar 2024 10:15:00 -0000\nMessage-ID: <x@y>\n\nhi"
    assert parse(raw).sent_at == datetime(2024, 3, 5, 10, 15, tzinfo=UTC)


MULTIPART = b"""From: a@b.com
Message-ID: <mp@x>
Content-Type: multipart/mixed; boundary="OUTER"

--OUTER
Content-Type: multipart/alternative; boundary="INNER"

--INNER
Content-Type: text/html; charset=utf-8

<p>HTML version</p>
--INNER
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe aus K=F6ln
--INNER--
--OUTER
Content-Type: application/pdf; name="offer.pdf"
Content-Disposition: attachment; filename="offer.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--OUTER--
"""


def test_the_plain_text_part_is_preferred_and_decoded():
    message = parse(MULTIPART)
    assert message.content_type == "multipart/mixed"
    assert message.body_text == "Grüße aus Köln"


def test_attachments_carry_metadata_only():
    (attachment,) = parse(MULTIPART).attachments
    assert attachment.filename == "offer.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.size == len(b"%PDF-1.4\n")


def test_no_attachment_metadata_travels_when_visibility_is_not_full():
    source = MessageSource("w1", "a1", "INBOX", FolderRole.INBOX, 7, include_content=False)
    assert parse(MULTIPART, source).attachments == ()


def test_an_html_only_message_gets_its_text():
    raw = (
        b"From: a@b.com\nMessage-ID: <h@x>\nContent-Type: text/html\n\n"
        b"<html><head><style>p{}</style></head><body><p>Hi &amp; bye</p><p>Two</p></body></html>"
    )
    assert parse(raw).body_text == "Hi & bye\nTwo"


def test_the_body_is_bounded():
    source = MessageSource("w1", "a1", "INBOX", FolderRole.INBOX, 7, True, body_max_bytes=10)
    raw = b"From: a@b.com\nMessage-ID: <x@y>\nContent-Type: text/plain; charset=utf-8\n\n"
    body = parse(raw + "ééééééééé".encode(), source).body_text
    assert body == "ééééé"


def test_a_truncated_multipart_body_does_not_fail():
    cut = MULTIPART[: MULTIPART.index(b"JVBER")]
    message = parse(cut)
    assert message.body_text == "Grüße aus Köln"


def test_an_unknown_charset_does_not_fail():
    raw = b"From: a@b.com\nMessage-ID: <x@y>\nContent-Type: text/plain; charset=x-nonsense\n\nhi"
    assert parse(raw).body_text == "hi"


def test_a_message_with_only_garbage_still_becomes_a_raw_message():
    message = parse(b"\x00\xff garbage without headers")
    assert message.message_id.endswith("@no-message-id.invalid")
    assert message.sent_at == INTERNAL
    assert message.from_ == ()


def test_it_serialises_with_the_from_alias():
    assert '"from":' in parse(SIMPLE).model_dump_json(by_alias=True)


def test_enormous_headers_are_bounded_so_the_message_still_fits_on_kafka():
    to = ", ".join(f"Person {i} <p{i}@client{i % 50}.test>" for i in range(20_000))
    references = " ".join(f"<r{i}@x.test>" for i in range(5_000))
    raw = (
        f"From: a@b.test\nTo: {to}\nSubject: {'x' * 2_000_000}\nReferences: {references}\n"
        f"List-Id: {'l' * 100_000}\nMessage-ID: <big@x.test>\n\nhi"
    ).encode()

    message = parse(raw)

    assert 0 < len(message.to) <= 1000
    assert message.to[0].email == "p0@client0.test"
    assert message.subject == "x" * 2000
    assert (len(message.references), message.references[0]) == (50, "r0@x.test")
    assert message.references[-1] == "r4999@x.test"
    assert len(message.headers["list-id"]) == 2000
    assert len(message.model_dump_json(by_alias=True)) < 500_000  # Kafka's limit is 1 MB


def test_a_broken_charset_in_headers_and_body_does_not_fail():
    raw = (
        b"From: =?x-nonsense?Q?Ann?= <ann@client.test>\nTo: bob@acme.test\n"
        b"Subject: =?utf-8?B?broken base64?= \xff\xfe raw bytes\nMessage-ID: <c@x>\n"
        b"Content-Type: text/plain; charset=utf-8\n\n\xff\xfe\xfd not utf-8"
    )
    message = parse(raw)
    assert message.from_[0].email == "ann@client.test"
    assert message.subject
    assert message.body_text is not None


def test_latin1_bytes_in_the_subject_from_and_list_id_are_read_and_can_travel():
    raw = "From: José Müller <jose@client.test>\nTo: Renée <r@client.test>\nSubject: Café crème\n"
    raw += "List-Id: Café <cafe.client.test>\nMessage-ID: <l1@client.test>\n\nhi"
    message = parse(raw.encode("latin-1"))
    assert message.subject == "Café crème"
    assert (message.from_[0].name, message.to[0].name) == ("José Müller", "Renée")
    assert message.headers["list-id"] == "Café <cafe.client.test>"
    message.model_dump_json()  # raises on what JSON cannot carry


def test_raw_utf8_headers_are_read_as_utf8():
    raw = "From: Jürgen <j@client.test>\nSubject: Grüße 💐\nMessage-ID: <u@x>\n\nhi"
    message = parse(raw.encode("utf-8"))
    assert (message.subject, message.from_[0].name) == ("Grüße 💐", "Jürgen")


def test_8bit_headers_are_read_in_the_charset_the_message_names():
    raw = "From: a@client.test\nSubject: Привет\nMessage-ID: <k@x>\n"
    raw += "Content-Type: text/plain; charset=koi8-r\n\nhi"
    assert parse(raw.encode("koi8-r")).subject == "Привет"


def test_an_encoded_word_that_decodes_to_no_text_is_replaced_not_carried():
    raw = (
        b"From: a@client.test\nSubject: =?unicode-escape?q?=5Cudce9t=E9?=\nMessage-ID: <e@x>\n\nhi"
    )
    message = parse(raw)
    assert "\ufffd" in (message.subject or "")
    message.model_dump_json()


def test_a_date_far_after_the_server_received_the_message_is_not_trusted():
    for date in (b"Fri, 31 Dec 9999 23:00:00 +0000", b"Sat, 09 Mar 2024 10:15:00 +0000"):
        raw = b"From: a@client.test\nDate: " + date + b"\nMessage-ID: <f@x>\n\nhi"
        assert parse(raw).sent_at == INTERNAL


def test_a_date_a_few_hours_ahead_of_the_server_is_kept():
    raw = b"From: a@client.test\nDate: Tue, 05 Mar 2024 20:00:00 +0000\nMessage-ID: <h@x>\n\nhi"
    assert parse(raw).sent_at == datetime(2024, 3, 5, 20, 0, tzinfo=UTC)


def test_the_trusted_date_rule():
    now = datetime(2024, 3, 10, tzinfo=UTC)
    ahead = INTERNAL + MAX_DATE_AHEAD
    assert trusted_sent_at(ahead, INTERNAL, now) == ahead
    assert trusted_sent_at(ahead + timedelta(seconds=1), INTERNAL, now) == INTERNAL
    assert trusted_sent_at(None, INTERNAL, now) == INTERNAL
    # no date from the server: now is the bound, and the fallback
    assert trusted_sent_at(datetime(9999, 1, 1, tzinfo=UTC), None, now) == now
    assert trusted_sent_at(INTERNAL, None, now) == INTERNAL
    assert trusted_sent_at(None, None, now) == datetime(1970, 1, 1, tzinfo=UTC)


def test_an_address_header_past_its_bound_keeps_1000_and_says_so():
    cc = ", ".join(f"r{i}@client.test" for i in range(2000))
    raw = f"From: a@client.test\nTo: b@client.test\nCc: {cc}\nMessage-ID: <m@x>\n\nhi"
    message = parse(raw.encode())
    assert (len(message.cc), message.truncated) == (1000, ("cc",))
    assert parse(SIMPLE).truncated == ()


def test_a_subject_past_its_bound_says_so():
    assert parse(b"From: a@b.test\nSubject: " + b"s" * 3000 + b"\n\nhi").truncated == ("subject",)
