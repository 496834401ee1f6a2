"""Reading providers' answers: batch bodies, throttling, Retry-After, error reasons."""

import json

from crm_schemas.config import MailSettings
from fetcher.providers.gmail_batch import decode_batch, encode_batch
from fetcher.providers.graph_mail import graph_streams
from fetcher.providers.http import error_reason, is_throttled, retry_after


def test_a_batch_request_has_one_application_http_part_per_get():
    content_type, body = encode_batch([("a1", "/gmail/v1/users/me/messages/a1?format=raw")])
    boundary = content_type.split("boundary=")[1]
    text = body.decode()
    assert text.startswith(f"--{boundary}\r\nContent-Type: application/http\r\n")
    assert "Content-ID: <a1>" in text
    assert "GET /gmail/v1/users/me/messages/a1?format=raw" in text
    assert text.endswith(f"--{boundary}--")


def test_a_batch_answer_is_split_into_its_responses_matched_by_content_id():
    body = (
        b"--batch_x\r\nContent-Type: application/http\r\nContent-ID: <response-a1>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
        b'{"id": "a1"}\r\n'
        b"--batch_x\r\nContent-Type: application/http\r\nContent-ID: <response-b2>\r\n\r\n"
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\n\r\n"
        b'{"error": {"code": 429}}\r\n'
        b"--batch_x--\r\n"
    )
    first, second = decode_batch("multipart/mixed; boundary=batch_x", body)
    assert (first.content_id, first.status, first.json()) == ("a1", 200, {"id": "a1"})
    assert (second.content_id, second.status) == ("b2", 429)
    assert retry_after(second.headers) == 3


def test_google_rate_limit_403s_are_throttling_but_other_403s_are_not():
    limit = {"error": {"code": 403, "errors": [{"reason": "userRateLimitExceeded"}]}}
    denied = {"error": {"code": 403, "errors": [{"reason": "insufficientPermissions"}]}}
    assert is_throttled(403, json.dumps(limit))
    assert not is_throttled(403, json.dumps(denied))
    assert is_throttled(429, "")
    assert is_throttled(503, "")
    assert not is_throttled(404, "")


def test_graph_error_codes_are_read():
    assert error_reason(json.dumps({"error": {"code": "syncStateNotFound"}})) == (
        "syncStateNotFound"
    )
    assert error_reason("not json") == ""


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after({"Retry-After": "7"}) == 7
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480) == 10
    assert retry_after({}) is None


def test_graph_syncs_inbox_and_sent_items_then_included_folders_never_excluded_ones():
    assert graph_streams(MailSettings()) == ["inbox", "sentitems"]
    settings = MailSettings(include_folders=("archive", "inbox"), exclude_folders=("SentItems",))
    assert graph_streams(settings) == ["inbox", "archive"]


def test_graph_never_syncs_junk_deleted_items_or_drafts_even_when_included():
    settings = MailSettings(include_folders=("junkemail", "DeletedItems", "drafts", "archive"))
    assert graph_streams(settings) == ["inbox", "sentitems", "archive"]
