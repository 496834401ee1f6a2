"""Gmail and Graph message resources read by the one MIME core."""

import base64

from crm_schemas.mail import FolderRole
from fetcher.domain.api_messages import gmail_fetched, graph_fetched
from fetcher.domain.mime import MessageSource, raw_message

SOURCE = MessageSource("ws", "acc", "INBOX", FolderRole.INBOX, 0, include_content=True)
RAW = (
    b"From: Jane <jane@customer.io>\r\nTo: me@acme.test\r\nSubject: Hi\r\n"
    b"Message-ID: <m1@customer.io>\r\nDate: Tue, 05 Mar 2024 10:00:00 +0100\r\n\r\nBody text\r\n"
)


def test_a_gmail_raw_resource_keeps_headers_and_body():
    resource = {
        "id": "18c",
        "raw": base64.urlsafe_b64encode(RAW).decode().rstrip("="),
        "internalDate": "1709629200000",
    }
    message = raw_message(gmail_fetched(resource), SOURCE)
    assert message.message_id == "m1@customer.io"
    assert message.body_text == "Body text"
    assert message.from_[0].email == "jane@customer.io"


def test_a_gmail_metadata_resource_is_read_from_its_headers():
    headers = [
        {"name": "From", "value": "Jane <jane@customer.io>"},
        {"name": "Subject", "value": "Grüße"},
        {"name": "Message-ID", "value": "<m2@customer.io>"},
        {"name": "List-Id", "value": "<news.customer.io>"},
    ]
    resource = {"id": "18d", "internalDate": "1709629200000", "payload": {"headers": headers}}
    message = raw_message(gmail_fetched(resource), SOURCE)
    assert message.subject == "Grüße"
    assert message.headers["list-id"] == "<news.customer.io>"
    assert message.sent_at.year == 2024  # no Date header: Gmail's internalDate


def test_a_graph_message_without_transport_headers_is_completed_from_its_fields():
    resource = {
        "id": "AAMk",
        "internetMessageId": "<m3@acme.test>",
        "subject": "Proposal",
        "from": {"emailAddress": {"name": "Owner", "address": "owner@acme.test"}},
        "toRecipients": [{"emailAddress": {"name": "Doe, Jane", "address": "jane@customer.io"}}],
        "sentDateTime": "2024-03-05T09:00:00Z",
    }
    message = raw_message(graph_fetched(resource), SOURCE)
    assert message.message_id == "m3@acme.test"
    assert message.to[0].email == "jane@customer.io"
    assert message.to[0].name == "Doe, Jane"
    assert message.sent_at.hour == 9


def test_graph_transport_headers_win_over_the_structured_fields():
    resource = {
        "id": "AAMk",
        "internetMessageId": "<m4@customer.io>",
        "internetMessageHeaders": [
            {"name": "Message-ID", "value": "<m4@customer.io>"},
            {"name": "In-Reply-To", "value": "<m3@acme.test>"},
            {"name": "Precedence", "value": "bulk"},
        ],
        "from": {"emailAddress": {"address": "jane@customer.io"}},
    }
    message = raw_message(graph_fetched(resource), SOURCE)
    assert message.in_reply_to == "m3@acme.test"
    assert message.headers["precedence"] == "bulk"


def test_a_gmail_raw_resource_with_latin1_headers_is_read():
    latin1 = RAW.replace(b"Subject: Hi", "Subject: Café crème".encode("latin-1"))
    resource = {"id": "18e", "raw": base64.urlsafe_b64encode(latin1).decode()}
    message = raw_message(gmail_fetched(resource), SOURCE)
    assert message.subject == "Café crème"
    message.model_dump_json()


def test_half_a_surrogate_pair_in_a_graph_subject_or_name_is_replaced():
    resource = {
        "id": "AAk",
        "internetMessageId": "<g2@customer.io>",
        "subject": "Offer \ud83d",
        "from": {"emailAddress": {"name": "Jane \udca9", "address": "jane@customer.io"}},
    }
    message = raw_message(graph_fetched(resource), SOURCE)
    assert (message.subject, message.from_[0].name) == ("Offer \ufffd", "Jane \ufffd")
