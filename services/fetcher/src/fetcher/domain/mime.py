"""From the fetched bytes of a message to a RawMessage: robust, bounded, never fatal."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import parsedate_to_datetime
from typing import Any

from crm_schemas.ids import message_item_id, normalize_message_id, synthetic_message_id
from crm_schemas.mail import AttachmentInfo, FolderRole, RawMessage
from fetcher.domain.addresses import decode_words, header_addresses
from fetcher.domain.model import FetchedMessage, MessagePart
from fetcher.domain.text import html_to_text, truncate_utf8

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


def _raw_header(message: Message, name: str) -> str:
    """A header's raw value (unfolded), or '' when it is absent."""
    for key, value in message.raw_items():
        if key.lower() == name:
            return " ".join(str(value).split())
    return ""


def parse_sent_at(raw_date: str, fallback: datetime | None) -> datetime:
    """The Date header in UTC; the server's INTERNALDATE when it is missing or broken."""
    try:
        parsed = parsedate_to_datetime(raw_date) if raw_date else None
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    chosen = parsed or fallback or datetime(1970, 1, 1, tzinfo=UTC)
    if chosen.tzinfo is None:  # "-0000" means "no zone information": read it as UTC
        chosen = chosen.replace(tzinfo=UTC)
    return chosen.astimezone(UTC)


def message_ids(raw: str) -> tuple[str, ...]:
    """The Message-IDs in a References or In-Reply-To value, normalised, in order; of a
    very long chain, the first (the thread's root) and the most recent ones."""
    found = _MESSAGE_ID.findall(raw) or raw.split()
    ids = (normalize_message_id(found_id) for found_id in found)
    unique = tuple(dict.fromkeys(i for i in ids if i))
    if len(unique) <= MAX_REFERENCES:
        return unique
    return (unique[0], *unique[-(MAX_REFERENCES - 1) :])


def stable_message_id(message: Message, fallback_date: datetime | None) -> str:
    """The message's own Message-ID, or a synthetic one that is the same on every fetch."""
    own = message_ids(_raw_header(message, "message-id"))
    if own:
        return own[0]
    parts = [_raw_header(message, h) for h in ("from", "date", "subject")]
    if not parts[1] and fallback_date is not None:
        parts[1] = fallback_date.isoformat()
    return synthetic_message_id(*parts)


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
                filename=decode_words(filename) if filename else None,
                content_type=part.get_content_type(),
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
    return method.strip().upper() if method else None


def kept_headers(message: Message) -> dict[str, str]:
    """The headers the rules read, by lower-cased name, decoded."""
    kept = {
        name: decode_words(_raw_header(message, name)[:MAX_KEPT_HEADER_CHARS])
        for name in KEPT_HEADERS
    }
    return {name: value for name, value in kept.items() if value}


def raw_message(fetched: FetchedMessage, source: MessageSource) -> RawMessage:
    """A fetched message as the RawMessage the rest of the system reads.

    Never raises on bad input: broken headers become absent fields, a missing Message-ID
    a stable synthetic one, a broken Date the server's INTERNALDATE.
    """
    # The legacy policy parses headers as text, fast; the rules read raw values, and the
    # address headers go through the modern parser one by one (header_addresses).
    message = message_from_bytes(fetched.header + fetched.text, policy=policy.compat32)
    message_id = stable_message_id(message, fetched.internal_date)
    senders = header_addresses(message, "sender")
    raw_subject = _raw_header(message, "subject")[: MAX_SUBJECT_CHARS * 4]
    subject = " ".join(decode_words(raw_subject).split())[:MAX_SUBJECT_CHARS]
    in_reply_to = message_ids(_raw_header(message, "in-reply-to"))
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
        references=message_ids(_raw_header(message, "references")),
        subject=subject or None,
        sent_at=parse_sent_at(_raw_header(message, "date"), fetched.internal_date),
        from_=header_addresses(message, "from"),
        sender=senders[0] if senders else None,
        to=header_addresses(message, "to"),
        cc=header_addresses(message, "cc"),
        bcc=header_addresses(message, "bcc"),
        reply_to=header_addresses(message, "reply-to"),
        headers=kept_headers(message),
        content_type=message.get_content_type(),
        calendar_method=calendar_method(message, fetched.parts),
        **(_content(fetched, source) if source.include_content else {}),
    )


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
