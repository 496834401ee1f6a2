"""Gmail and Graph message resources as the FetchedMessage the MIME core reads.

Both APIs are mapped onto RFC 5322 bytes so one parser (``domain.mime``) reads every
provider: Gmail's ``format=raw`` is the message itself and ``format=metadata`` its
headers; Graph's ``internetMessageHeaders`` are the transport headers, completed from the
structured fields Graph always has (Sent Items often carry no transport headers).
"""

import base64
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr
from typing import Any

from fetcher.domain.model import FetchedMessage
from fetcher.domain.text import without_stray_surrogates


def _header_lines(pairs: Iterable[tuple[str, str]]) -> bytes:
    lines = []
    for name, value in pairs:
        # JSON may hold half a surrogate pair (a title cut inside an emoji): UTF-8 cannot
        clean = without_stray_surrogates(" ".join(str(value).split()))
        if not name or ":" in name:
            continue
        try:
            clean.encode("ascii")
        except UnicodeEncodeError:
            clean = Header(clean, "utf-8").encode()
        lines.append(f"{name}: {clean}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii", errors="replace")


def _millis(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(str(value)) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def gmail_fetched(resource: Mapping[str, Any]) -> FetchedMessage:
    """A Gmail message resource (``format=raw`` or ``metadata``) as a fetched message."""
    internal = _millis(resource.get("internalDate"))
    size = resource.get("sizeEstimate")
    raw = resource.get("raw")
    if isinstance(raw, str):
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        head, sep, text = data.replace(b"\r\n", b"\n").partition(b"\n\n")
        return FetchedMessage(
            uid=0,
            header=head + b"\n\n",
            text=text if sep else b"",
            internal_date=internal,
            size=int(size) if size is not None else None,
        )
    headers = resource.get("payload", {}).get("headers", [])
    pairs = [(str(h.get("name", "")), str(h.get("value", ""))) for h in headers]
    return FetchedMessage(
        uid=0,
        header=_header_lines(pairs),
        internal_date=internal,
        size=int(size) if size is not None else None,
    )


def _address(value: Mapping[str, Any] | None) -> str | None:
    if not value:
        return None
    email = value.get("emailAddress") or {}
    address = without_stray_surrogates(str(email.get("address") or ""))
    if not address:
        return None
    return formataddr((without_stray_surrogates(str(email.get("name") or "")), address))


def _addresses(values: Iterable[Mapping[str, Any]] | None) -> str | None:
    found = [a for a in (_address(v) for v in values or ()) if a]
    return ", ".join(found) or None


def _graph_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def graph_fetched(resource: Mapping[str, Any]) -> FetchedMessage:
    """A Graph message resource as a fetched message (headers only; the body is read
    from ``body.content`` by the provider when the visibility shows it)."""
    transport = [
        (str(h.get("name", "")), str(h.get("value", "")))
        for h in resource.get("internetMessageHeaders") or []
    ]
    present = {name.lower() for name, _ in transport}
    sent = _graph_time(resource.get("sentDateTime"))
    structured = {
        "Message-ID": resource.get("internetMessageId"),
        "Subject": resource.get("subject"),
        "From": _address(resource.get("from")),
        "Sender": _address(resource.get("sender")),
        "To": _addresses(resource.get("toRecipients")),
        "Cc": _addresses(resource.get("ccRecipients")),
        "Bcc": _addresses(resource.get("bccRecipients")),
        "Reply-To": _addresses(resource.get("replyTo")),
        "Date": format_datetime(sent) if sent else None,
    }
    completed = transport + [
        (name, str(value))
        for name, value in structured.items()
        if value and name.lower() not in present
    ]
    return FetchedMessage(
        uid=0,
        header=_header_lines(completed),
        internal_date=_graph_time(resource.get("receivedDateTime")) or sent,
    )
