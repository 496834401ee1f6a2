"""Testing a connection before it is stored: which protocol failed, and why, in words.

The checks themselves do I/O (``adapters.connection_check``); what a failure means to
the user is decided here. Which server addresses an account may point at is one rule
for every service that connects to them: ``crm_runtime.egress.refused_address``.
"""

import base64
import re
from enum import StrEnum

from pydantic import BaseModel


class Failure(StrEnum):
    """Why a protocol's check failed, from the user's point of view."""

    FORBIDDEN_HOST = "forbidden_host"
    DNS = "dns"
    CONNECTION = "connection"
    TLS = "tls"
    AUTH = "auth"
    NO_SUCH_FOLDER = "no_such_folder"
    NOT_CALDAV = "not_caldav"
    PROTOCOL = "protocol"


class Check(BaseModel):
    """The outcome of checking one protocol of an account."""

    protocol: str
    ok: bool
    failure: Failure | None = None
    message: str
    detail: str | None = None


_WORDS: dict[Failure, str] = {
    Failure.FORBIDDEN_HOST: "{host} is a private or local address, which accounts may not use",
    Failure.DNS: "Cannot resolve host {host}: check the server name",
    Failure.CONNECTION: "Cannot reach {host}: check the server name and port",
    Failure.TLS: "TLS handshake with {host} failed: check the security setting and the port",
    Failure.AUTH: "The {protocol} server refused the user name or password",
    Failure.NO_SUCH_FOLDER: "The mailbox has no folder named {detail}",
    Failure.NOT_CALDAV: "{host} is not a CalDAV server (no calendars found at that address)",
    Failure.PROTOCOL: "The {protocol} server answered in a way we do not understand",
}


def failed(protocol: str, failure: Failure, host: str, detail: str = "") -> Check:
    """A failed check, with the sentence a user reads."""
    message = _WORDS[failure].format(protocol=protocol, host=host, detail=detail)
    return Check(protocol=protocol, ok=False, failure=failure, message=message, detail=detail)


def passed(protocol: str, message: str) -> Check:
    """A check that passed."""
    return Check(protocol=protocol, ok=True, message=message)


_LIST_LINE = re.compile(r'^\((?P<flags>[^)]*)\) (?P<delimiter>"(?:[^"\\]|\\.)*"|NIL) (?P<name>.*)$')


def decode_folder_name(name: str) -> str:
    """A folder name as IMAP sends it (RFC 3501 modified UTF-7) in plain Unicode."""

    def decode(match: re.Match[str]) -> str:
        chunk = match.group(1)
        if not chunk:
            return "&"
        padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
        return base64.b64decode(padded).decode("utf-16-be")

    return re.sub(r"&([A-Za-z0-9+,]*)-", decode, name)


def listed_folder(line: str) -> str | None:
    """The folder name of one LIST response line, None when it is not one."""
    found = _LIST_LINE.match(line.strip())
    if found is None:
        return None
    name = found.group("name").strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = re.sub(r"\\(.)", r"\1", name[1:-1])
    return decode_folder_name(name)
