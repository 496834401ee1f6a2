"""Reading imaplib's raw responses: LIST lines and UID FETCH results."""

import re
from datetime import datetime

from fetcher.adapters.imap_structure import parse_bodystructure
from fetcher.domain.model import FetchedMessage, Folder

_LIST = re.compile(rb'^\((?P<flags>[^)]*)\)\s+(?P<delim>"(?:[^"\\]|\\.)*"|NIL)\s+(?P<name>.*)$')
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_DATE = re.compile(rb'\bINTERNALDATE "([^"]+)"')
_START = re.compile(rb"^\d+ \(")


def _unquote(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return text


def parse_list(lines: list[bytes | tuple[bytes, bytes] | None]) -> list[Folder]:
    """Folders from a LIST response (names may arrive as literals)."""
    folders: list[Folder] = []
    for line in lines:
        if line is None:
            continue
        if isinstance(line, tuple):  # name sent as a literal: b'(...) "/" {5}', b'Inbox'
            head, literal = line
            line = re.sub(rb"\{\d+\}$", b"", head.rstrip()) + b'"' + literal + b'"'
        match = _LIST.match(line)
        if not match:
            continue
        delim = match["delim"]
        folders.append(
            Folder(
                name=_unquote(match["name"]),
                flags=frozenset(match["flags"].decode(errors="replace").split()),
                delimiter=None if delim == b"NIL" else _unquote(delim),
            )
        )
    return folders


def parse_internaldate(raw: bytes) -> datetime | None:
    """An IMAP INTERNALDATE ('17-Jul-1996 02:44:25 -0700'), or None when unreadable."""
    try:
        return datetime.strptime(raw.decode().strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None


def _literal_kind(prefix: bytes) -> str | None:
    upper = prefix.upper()
    if upper.rstrip().endswith(b"}"):
        if b"BODY[HEADER]" in upper[-40:]:
            return "header"
        if b"BODY[TEXT]" in upper[-40:]:
            return "text"
    return None


def parse_fetch(data: list[bytes | tuple[bytes, bytes] | None]) -> list[FetchedMessage]:
    """Messages from a UID FETCH of (UID INTERNALDATE RFC822.SIZE BODYSTRUCTURE
    BODY[HEADER] BODY[TEXT]); BODYSTRUCTURE and BODY[TEXT] may be absent."""
    messages: list[FetchedMessage] = []
    meta: list[bytes] = []
    parts: dict[str, bytes] = {}
    segments: list[tuple[bytes, bytes | None]] = []

    def flush() -> None:
        text = b" ".join(meta)
        uid = _UID.search(text)
        if uid:
            size, date = _SIZE.search(text), _DATE.search(text)
            messages.append(
                FetchedMessage(
                    uid=int(uid[1]),
                    header=parts.get("header", b""),
                    text=parts.get("text", b""),
                    internal_date=parse_internaldate(date[1]) if date else None,
                    size=int(size[1]) if size else None,
                    parts=parse_bodystructure(segments) if b"BODYSTRUCTURE" in text else None,
                )
            )
        meta.clear()
        parts.clear()
        segments.clear()

    for item in data:
        if item is None:
            continue
        prefix, literal = item if isinstance(item, tuple) else (item, None)
        if _START.match(prefix) and meta:
            flush()
        meta.append(prefix)
        kind = _literal_kind(prefix)
        if kind and literal is not None:
            parts[kind] = literal
        segments.append((prefix, b"" if kind and literal is not None else literal))
    if meta:
        flush()
    return messages
