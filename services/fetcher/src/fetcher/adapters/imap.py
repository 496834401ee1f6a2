"""A read-only IMAP session over the standard library's imaplib, run off the event loop.

Read-only by construction: the only commands sent are LOGIN, ENABLE CONDSTORE, LIST,
EXAMINE, UID SEARCH (by UID, or by Message-ID header for a lookup), UID FETCH with
BODY.PEEK (which never sets \\Seen) and LOGOUT.
"""

import asyncio
import imaplib
import socket
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from pydantic import SecretStr

from crm_runtime.egress import GUARDED, EgressPolicy, GuardedIMAP4, GuardedIMAP4SSL, forbidden_in
from crm_schemas.config import ImapConnection, TlsMode
from fetcher.adapters.imap_parse import parse_fetch, parse_list
from fetcher.domain.model import FetchedMessage, Folder, FolderState
from fetcher.domain.problems import ProblemKind, SyncProblem

PROTOCOL = "IMAP"


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _problem(error: BaseException) -> SyncProblem:
    """The user-facing problem behind a failure to connect or log in."""
    forbidden = forbidden_in(error)
    if forbidden is not None:
        return SyncProblem(ProblemKind.FORBIDDEN_HOST, PROTOCOL, str(forbidden))
    if isinstance(error, socket.gaierror):
        return SyncProblem(ProblemKind.DNS, PROTOCOL, str(error))
    if isinstance(error, ssl.SSLError):
        return SyncProblem(ProblemKind.TLS, PROTOCOL, str(error))
    if isinstance(error, OSError):  # refused, reset, unreachable, timed out
        return SyncProblem(ProblemKind.CONNECTION, PROTOCOL, str(error))
    return SyncProblem(ProblemKind.PROTOCOL, PROTOCOL, str(error))


def _check(result: tuple[str, list[Any]], command: str) -> list[Any]:
    typ, data = result
    if typ != "OK":
        raise SyncProblem(ProblemKind.PROTOCOL, PROTOCOL, f"{command} answered {typ}: {data!r}")
    return data


def _connect(
    connection: ImapConnection, password: SecretStr, timeout: float, egress: EgressPolicy
) -> imaplib.IMAP4:
    """A logged-in client; the host's addresses are vetted at every connection
    (``crm_runtime.egress``), not only when the account was connected."""
    context = ssl.create_default_context()
    host, port = connection.host, connection.port
    try:
        if connection.tls == TlsMode.SSL:
            client: imaplib.IMAP4 = GuardedIMAP4SSL(host, port, egress, context, timeout)
        else:
            client = GuardedIMAP4(host, port, egress, timeout)
            if connection.tls == TlsMode.STARTTLS:
                _starttls(client, context)
    except (OSError, imaplib.IMAP4.error) as error:
        raise _problem(error) from error
    try:
        client.login(connection.username, password.get_secret_value())
    except imaplib.IMAP4.error as error:
        _close_quietly(client)
        if isinstance(error, imaplib.IMAP4.abort):
            raise _problem(error) from error
        raise SyncProblem(ProblemKind.AUTH, PROTOCOL, str(error)) from error
    except OSError as error:
        _close_quietly(client)
        raise _problem(error) from error
    _enable_condstore(client)
    return client


def _enable_condstore(client: imaplib.IMAP4) -> None:
    """Ask for CONDSTORE (RFC 7162) where the server has it: EXAMINE then reports
    HIGHESTMODSEQ, which tells an unchanged folder without searching it."""
    try:
        typ, data = client.capability()  # servers announce more once logged in
        if typ == "OK" and data and isinstance(data[0], bytes):
            client.capabilities = tuple(data[0].decode(errors="replace").upper().split())
        if "CONDSTORE" in client.capabilities and "ENABLE" in client.capabilities:
            client.enable("CONDSTORE")
    except imaplib.IMAP4.error:
        return  # no CONDSTORE: no modseqs, every folder is searched


def _starttls(client: imaplib.IMAP4, context: ssl.SSLContext) -> None:
    try:
        client.starttls(ssl_context=context)
    except imaplib.IMAP4.error as error:
        _close_quietly(client)
        raise SyncProblem(ProblemKind.TLS, PROTOCOL, f"STARTTLS refused: {error}") from error


def _close_quietly(client: imaplib.IMAP4) -> None:
    try:
        client.logout()
    except (OSError, imaplib.IMAP4.error):
        client.shutdown()


class ImapMailbox:
    """One logged-in session; every call runs imaplib in a worker thread, one at a time."""

    def __init__(self, client: imaplib.IMAP4) -> None:
        self._client = client
        self._lock = asyncio.Lock()

    async def _call(self, command: str, *args: Any) -> list[Any]:
        async with self._lock:
            try:
                method = getattr(self._client, command)
                return _check(await asyncio.to_thread(method, *args), command)
            except (OSError, imaplib.IMAP4.abort) as error:
                raise _problem(error) from error

    async def folders(self) -> list[Folder]:
        """Every folder, with its special-use flags (RFC 6154) where the server has them."""
        return parse_list(await self._call("list", '""', "*"))

    async def examine(self, folder: str) -> FolderState:
        """EXAMINE: open a folder read-only."""
        data = await self._call("select", _quote(folder), True)
        validity = self._client.untagged_responses.get("UIDVALIDITY", [b"0"])[-1]
        modseq = self._client.untagged_responses.get("HIGHESTMODSEQ", [b"0"])[-1]
        exists = int(data[0]) if data and isinstance(data[0], bytes) else 0
        uidvalidity = int(validity) if isinstance(validity, bytes) else 0
        highest = int(modseq) if isinstance(modseq, bytes) and modseq.isdigit() else 0
        return FolderState(uidvalidity=uidvalidity, exists=exists, highestmodseq=highest)

    async def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above ``last_uid``; ``n:*`` also matches the highest UID, so filter."""
        data = await self._call("uid", "SEARCH", f"UID {last_uid + 1}:*")
        found = b" ".join(d for d in data if d).split()
        return sorted(uid for uid in (int(u) for u in found) if uid > last_uid)

    async def uids_before(self, uid: int) -> list[int]:
        """UIDs below ``uid`` (none below 1)."""
        if uid <= 1:
            return []
        data = await self._call("uid", "SEARCH", f"UID 1:{uid - 1}")
        found = b" ".join(d for d in data if d).split()
        return sorted(u for u in (int(v) for v in found) if u < uid)

    async def search_message_id(self, message_id: str) -> list[int]:
        """UIDs of the open folder's messages with this Message-ID (``UID SEARCH HEADER``)."""
        data = await self._call("uid", "SEARCH", "HEADER", "Message-ID", _quote(f"<{message_id}>"))
        found = b" ".join(d for d in data if d).split()
        return sorted(int(u) for u in found)

    async def fetch(self, uids: Sequence[int], text_bytes: int) -> list[FetchedMessage]:
        """Headers, structure and the first ``text_bytes`` of each message (no text at all
        for 0), without setting \\Seen: BODY.PEEK and BODYSTRUCTURE only."""
        if not uids:
            return []
        text = f" BODY.PEEK[TEXT]<0.{text_bytes}>" if text_bytes > 0 else ""
        items = f"(UID INTERNALDATE RFC822.SIZE BODYSTRUCTURE BODY.PEEK[HEADER]{text})"
        data = await self._call("uid", "FETCH", ",".join(str(u) for u in uids), items)
        return parse_fetch(data)


@asynccontextmanager
async def open_imap(
    connection: ImapConnection,
    password: SecretStr,
    timeout_s: float = 30,
    egress: EgressPolicy = GUARDED,
) -> AsyncIterator[ImapMailbox]:
    """A logged-in read-only session, logged out on exit; SyncProblem when it cannot be."""
    client = await asyncio.to_thread(_connect, connection, password, timeout_s, egress)
    try:
        yield ImapMailbox(client)
    finally:
        await asyncio.to_thread(_close_quietly, client)
