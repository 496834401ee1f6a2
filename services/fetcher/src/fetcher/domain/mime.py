"""From the fetched bytes of a message to a RawMessage: robust, bounded, never fatal."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import parsedate_to_datetime
from typing import Any

from crm_schemas.ids import message_item_id, normalize_message_id, synthetic_message_id
from crm_schemas.mail import AttachmentInfo, FolderRole, RawMessage
from fetcher.domain.addresses import HeaderAddresses, decode_words, header_addresses
from fetcher.domain.headers import Headers
from fetcher.domain.model import FetchedMessage, MessagePart
from fetcher.domain.text import html_to_text, readable_header, truncate_utf8

KEPT_HEADERS = (
    "list-id",
    "list-unsubscribe",
    "precedence",
    "auto-submitted",
    "return-path",
    "x-auto-response-suppress",
    "content-type",
)
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
# Bounds that keep a RawMessage well under Kafka's 1 MB whatever the headers hold.
MAX_SUBJECT_CHARS = 2000
MAX_KEPT_HEADER_CHARS = 2000
MAX_REFERENCES = 50  # the root (first) and the most recent ones
MAX_DATE_AHEAD = timedelta(days=1)
"""How far after the server received a message its Date may be and still be believed:
clocks are wrong and zones misread by hours, not more. A Date further ahead (the year
9999) would pin the message to the top of every timeline."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class MessageSource:
    """Where a fetched message comes from, and how much of it may travel."""

    workspace_id: str
    account_id: str
    folder: str
    folder_role: FolderRole
    uidvalidity: int
    include_content: bool = False
    body_max_bytes: int = 65536


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:  # "-0000" means "no zone information": read it as UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def trusted_sent_at(claimed: datetime | None, received: datetime | None, now: datetime) -> datetime:
    """When a message was sent, as timelines show it: the Date it claims, unless that is
    missing or more than ``MAX_DATE_AHEAD`` after the server received it (after ``now``
    when the server gave no date); then the date the server received it."""
    limit = (received or now) + MAX_DATE_AHEAD
    if claimed is not None and claimed <= limit:
        return claimed
    if received is not None:
        return received
    return now if claimed is not None else _EPOCH


def parse_sent_at(
    raw_date: str, fallback: datetime | None, now: datetime | None = None
) -> datetime:
    """The Date header in UTC, as far as it can be trusted (``trusted_sent_at``); the
    server's INTERNALDATE (``fallback``) when it is missing, broken or far ahead."""
    try:
        parsed = parsedate_to_datetime(raw_date) if raw_date else None
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    return trusted_sent_at(
        _utc(parsed) if parsed else None,
        _utc(fallback) if fallback else None,
        now or datetime.now(UTC),
    )


def message_ids(raw: str) -> tuple[str, ...]:
    """The Message-IDs in a References or In-Reply-To value, normalised, in order; of a
    very long chain, the first (the thread's root) and the most recent ones."""
    found = _MESSAGE_ID.findall(raw) or raw.split()
    ids = (normalize_message_id(found_id) for found_id in found)
    unique = tuple(dict.fromkeys(i for i in ids if i))
    if len(unique) <= MAX_REFERENCES:
        return unique
    return (unique[0], *unique[-(MAX_REFERENCES - 1) :])


def stable_message_id(headers: Headers, fallback_date: datetime | None) -> str:
    """The message's own Message-ID, or a synthetic one that is the same on every fetch."""
    own = message_ids(headers.first("message-id"))
    if own:
        return own[0]
    parts = [headers.first(h) for h in ("from", "date", "subject")]
    if not parts[1] and fallback_date is not None:
        parts[1] = fallback_date.isoformat()
    return synthetic_message_id(*parts)


def fetched_message_id(fetched: FetchedMessage) -> str:
    """The Message-ID ``raw_message`` gives a fetched message: its own, or the synthetic
    one it makes when there is none."""
    message = message_from_bytes(fetched.header, policy=policy.compat32)
    return stable_message_id(Headers(message), fetched.internal_date)


def _decode_part(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def plain_text_body(message: EmailMessage, max_bytes: int) -> str | None:
    """The text/plain body (HTML turned into text when there is none), bounded."""
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except (KeyError, ValueError, IndexError, AttributeError):
        part = None
    if part is None:
        return None
    text = _decode_part(part)
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    return truncate_utf8(text.strip(), max_bytes) or None


def attachments(message: EmailMessage) -> tuple[AttachmentInfo, ...]:
    """Metadata of the attachments present in the fetched bytes; no content."""
    found: list[AttachmentInfo] = []
    try:
        parts = list(message.iter_attachments()) if message.is_multipart() else []
    except (KeyError, ValueError, IndexError, AttributeError):
        return ()
    for part in parts:
        if part.is_multipart():
            continue
        raw = part.get_payload(decode=True)
        filename = part.get_filename()
        found.append(
            AttachmentInfo(
                filename=decode_words(readable_header(filename)) if filename else None,
                content_type=readable_header(part.get_content_type()),
                size=len(raw) if isinstance(raw, bytes) else None,
            )
        )
    return tuple(found)


def _is_attachment(part: MessagePart) -> bool:
    if part.disposition == "attachment":
        return True
    if part.filename is None:
        return False
    return not (part.disposition == "inline" and part.content_type.startswith("text/"))


def _decoded_size(part: MessagePart) -> int | None:
    """The size of the content once decoded: base64 carries 57 bytes per 78-octet line."""
    if part.size is None:
        return None
    return part.size * 57 // 78 if part.encoding == "base64" else part.size


def structure_attachments(parts: tuple[MessagePart, ...]) -> tuple[AttachmentInfo, ...]:
    """Attachment metadata from the message's structure (IMAP BODYSTRUCTURE): name, type
    and size without a byte of the content, however large the attachment is."""
    return tuple(
        AttachmentInfo(
            filename=decode_words(part.filename) if part.filename else None,
            content_type=part.content_type,
            size=_decoded_size(part),
        )
        for part in parts
        if _is_attachment(part)
    )


def calendar_method(message: Message, parts: tuple[MessagePart, ...] | None) -> str | None:
    """The iTIP METHOD of the message's first text/calendar part (an invitation), if any."""
    if parts is not None:
        found = [p.param("method") for p in parts if p.content_type == "text/calendar"]
    else:
        try:
            found = [
                str(p.get_param("method") or "")
                for p in message.walk()
                if p.get_content_type() == "text/calendar"
            ]
        except (KeyError, ValueError, IndexError, AttributeError):
            found = []
    method = next((m for m in found if m), None)
    return readable_header(method).strip().upper() if method else None


def kept_headers(headers: Headers) -> dict[str, str]:
    """The headers the rules read, by lower-cased name, decoded."""
    kept = {
        name: decode_words(headers.first(name)[:MAX_KEPT_HEADER_CHARS]) for name in KEPT_HEADERS
    }
    return {name: value for name, value in kept.items() if value}


def raw_message(fetched: FetchedMessage, source: MessageSource) -> RawMessage:
    """A fetched message as the RawMessage the rest of the system reads.

    Never raises on bad input it knows of: broken headers become absent fields, 8-bit
    headers are read best-effort (``readable_header``), a missing Message-ID becomes a
    stable synthetic one, a broken or far-future Date the server's INTERNALDATE, and
    fields cut to their bounds are named in ``truncated``.
    """
    # The legacy policy parses headers as text, fast; the rules read raw values, and the
    # address headers go through the modern parser one by one (header_addresses).
    message = message_from_bytes(fetched.header + fetched.text, policy=policy.compat32)
    headers = Headers(message)
    message_id = stable_message_id(headers, fetched.internal_date)
    addresses = {
        name: header_addresses(headers, name)
        for name in ("from", "sender", "to", "cc", "bcc", "reply-to")
    }
    raw_subject = headers.first("subject")
    subject = " ".join(decode_words(raw_subject[: MAX_SUBJECT_CHARS * 4]).split())
    in_reply_to = message_ids(headers.first("in-reply-to"))
    sender = addresses["sender"].addresses
    return RawMessage(
        item_id=message_item_id(source.workspace_id, message_id),
        workspace_id=source.workspace_id,
        account_id=source.account_id,
        provider="imap",
        provider_ref=f"{source.folder}/{source.uidvalidity}/{fetched.uid}",
        folder=source.folder,
        folder_role=source.folder_role,
        message_id=message_id,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=message_ids(headers.first("references")),
        subject=subject[:MAX_SUBJECT_CHARS] or None,
        sent_at=parse_sent_at(headers.first("date"), fetched.internal_date),
        from_=addresses["from"].addresses,
        sender=sender[0] if sender else None,
        to=addresses["to"].addresses,
        cc=addresses["cc"].addresses,
        bcc=addresses["bcc"].addresses,
        reply_to=addresses["reply-to"].addresses,
        headers=kept_headers(headers),
        content_type=headers.readable(message.get_content_type()),
        calendar_method=calendar_method(message, fetched.parts),
        truncated=_truncated(addresses, subject, raw_subject),
        **(_content(fetched, source) if source.include_content else {}),
    )


def _truncated(addresses: dict[str, HeaderAddresses], subject: str, raw: str) -> tuple[str, ...]:
    """The fields cut to their bounds: address headers past theirs, a long subject."""
    cut = [name for name, found in addresses.items() if found.cut]
    if len(subject) > MAX_SUBJECT_CHARS or len(raw) > MAX_SUBJECT_CHARS * 4:
        cut.append("subject")
    return tuple(cut)


def _content(fetched: FetchedMessage, source: MessageSource) -> dict[str, Any]:
    """Body text and attachments, for visibility ``full`` only (the modern parser)."""
    message = message_from_bytes(fetched.header + fetched.text, policy=policy.default)
    assert isinstance(message, EmailMessage)
    found = (
        structure_attachments(fetched.parts) if fetched.parts is not None else attachments(message)
    )
    return {
        "body_text": plain_text_body(message, source.body_max_bytes),
        "attachments": found,
    }
