"""Gmail's HTTP batch format: many GETs in one multipart/mixed request, and back.

developers.google.com/gmail/api/guides/batch: each part is ``application/http`` holding
one request line and headers; the answer is multipart/mixed with one HTTP response per
part, matched by ``Content-ID: <response-ID>``. Each inner request costs its own quota.
"""

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_STATUS = re.compile(rb"^HTTP/\d(?:\.\d)?\s+(\d{3})")


@dataclass(frozen=True, slots=True)
class BatchPart:
    """One inner response: its Content-ID, status, headers and body."""

    content_id: str
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        """The body as JSON (an object)."""
        value: dict[str, Any] = json.loads(self.body or b"{}")
        return value


def encode_batch(paths: Sequence[tuple[str, str]]) -> tuple[str, bytes]:
    """The content type and body of a batch of GETs, given (content id, path) pairs."""
    boundary = f"batch_{uuid.uuid4().hex}"
    lines: list[str] = []
    for content_id, path in paths:
        lines += [
            f"--{boundary}",
            "Content-Type: application/http",
            f"Content-ID: <{content_id}>",
            "",
            f"GET {path}",
            "",
        ]
    lines.append(f"--{boundary}--")
    return f"multipart/mixed; boundary={boundary}", "\r\n".join(lines).encode()


def boundary_of(content_type: str) -> str:
    """The multipart boundary of a Content-Type header."""
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise ValueError(f"no boundary in {content_type!r}")
    return match.group(1)


def _split_head(block: bytes) -> tuple[dict[str, str], bytes]:
    block = block.replace(b"\r\n", b"\n")
    if block.startswith(b"\n"):  # no headers at all
        return {}, block[1:]
    head, _, rest = block.partition(b"\n\n")
    headers: dict[str, str] = {}
    for line in head.split(b"\n"):
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return headers, rest


def decode_batch(content_type: str, body: bytes) -> list[BatchPart]:
    """The inner responses of a batch answer, in the order they came."""
    delimiter = b"--" + boundary_of(content_type).encode()
    parts: list[BatchPart] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        outer, inner = _split_head(chunk.strip(b"\r\n"))
        status_line, _, after = inner.replace(b"\r\n", b"\n").partition(b"\n")
        match = _STATUS.match(status_line)
        if match is None:
            raise ValueError(f"not an HTTP response in a batch part: {status_line[:80]!r}")
        headers, payload = _split_head(after)
        content_id = outer.get("content-id", "").strip("<>").removeprefix("response-")
        parts.append(BatchPart(content_id, int(match.group(1)), headers, payload.strip()))
    return parts
