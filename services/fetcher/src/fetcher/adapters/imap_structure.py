"""Reading an IMAP BODYSTRUCTURE (RFC 3501 section 7.4.2) into its leaf parts.

Only the structure travels: types, parameters, dispositions, file names and sizes. A
structure the parser cannot read yields None, never an exception: the message is then
treated as having no known parts.
"""

import re
from collections.abc import Iterator, Sequence

from fetcher.domain.model import MessagePart

Token = bytes | None | list["Token"]
_ATOM = re.compile(rb'[^\s()"{}]+')
_LITERAL = re.compile(rb"\{(\d+)\}$")


def _lex(segments: Sequence[tuple[bytes, bytes | None]]) -> Iterator[bytes | str | None]:
    """Tokens of a response split by imaplib into text and literals: '(' ')' bytes None."""
    for text, literal in segments:
        pos = 0
        while pos < len(text):
            char = text[pos : pos + 1]
            if char.isspace():
                pos += 1
            elif char in (b"(", b")"):
                yield char.decode()
                pos += 1
            elif char == b'"':
                end, out = pos + 1, bytearray()
                while end < len(text) and text[end : end + 1] != b'"':
                    if text[end : end + 1] == b"\\":
                        end += 1
                    out += text[end : end + 1]
                    end += 1
                yield bytes(out)
                pos = end + 1
            elif char == b"{" and _LITERAL.match(text[pos:].rstrip()):
                pos = len(text)  # the literal follows as its own segment
            else:
                atom = _ATOM.match(text, pos)
                if atom is None:
                    pos += 1
                    continue
                yield None if atom[0].upper() == b"NIL" else atom[0]
                pos = atom.end()
        if literal is not None:
            yield literal


def _tree(tokens: Iterator[bytes | str | None]) -> list[Token]:
    items: list[Token] = []
    for item in tokens:
        if item == "(":
            items.append(_tree(tokens))
        elif item == ")":
            return items
        elif not isinstance(item, str):
            items.append(item)
    return items


def _text(token: Token) -> str:
    return token.decode("utf-8", "replace") if isinstance(token, bytes) else ""


def _pairs(token: Token) -> tuple[tuple[str, str], ...]:
    if not isinstance(token, list):
        return ()
    flat = [_text(t) for t in token]
    return tuple((flat[i].lower(), flat[i + 1]) for i in range(0, len(flat) - 1, 2))


def _leaf(body: list[Token]) -> MessagePart:
    maintype, subtype = _text(body[0]).lower(), _text(body[1]).lower()
    params = _pairs(body[2])
    size = int(body[6]) if len(body) > 6 and isinstance(body[6], bytes) else None
    # Extension data: after text parts' line count, and message/rfc822's envelope,
    # body and line count, comes MD5 then the disposition.
    skip = 8 if maintype == "text" else 10 if (maintype, subtype) == ("message", "rfc822") else 7
    disposition = body[skip + 1] if len(body) > skip + 1 else None
    kind: str | None = None
    disposition_params: tuple[tuple[str, str], ...] = ()
    if isinstance(disposition, list) and disposition:
        kind = _text(disposition[0]).lower()
        disposition_params = _pairs(disposition[1]) if len(disposition) > 1 else ()
    names = dict(params) | dict(disposition_params)
    filename = names.get("filename") or names.get("name")
    return MessagePart(
        content_type=f"{maintype}/{subtype}",
        params=params,
        disposition=kind,
        filename=filename or None,
        size=size,
        encoding=(_text(body[5]).lower() or None) if len(body) > 5 else None,
    )


def _leaves(body: list[Token]) -> Iterator[MessagePart]:
    if body and isinstance(body[0], list):  # multipart: parts, then the subtype
        for part in body:
            if isinstance(part, list):
                yield from _leaves(part)
    elif len(body) >= 7:
        yield _leaf(body)


def parse_bodystructure(
    segments: Sequence[tuple[bytes, bytes | None]],
) -> tuple[MessagePart, ...] | None:
    """The leaf parts of the BODYSTRUCTURE in one message's FETCH response, or None."""
    tokens = _lex(segments)
    try:
        for item in tokens:
            if isinstance(item, bytes) and item.upper() == b"BODYSTRUCTURE":
                if next(tokens) != "(":
                    return None
                return tuple(_leaves(_tree(tokens)))
    except (ValueError, IndexError, TypeError, StopIteration):
        return None
    return None
