"""IMAP IDLE (RFC 2177) on a mailbox's INBOX and Sent folder: tells, within seconds, that
mail arrived (or that the owner sent some, which their client files in Sent).

Read-only like every other IMAP use here: EXAMINE, then IDLE; nothing is fetched on these
connections. IDLE watches one folder per connection, so a mailbox has two (servers allow
several: Gmail 15, Dovecot 10 by default). The sync itself still runs as an ordinary job,
so a push only queues one; polling by the scheduler stays the fallback when a server has
no IDLE or a watch fails.
"""

import asyncio
import contextlib
import imaplib
import logging
import re
import select
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial

from pydantic import SecretStr

from crm_runtime.egress import GUARDED, EgressPolicy
from crm_schemas.config import ImapConnection, MailSettings
from crm_schemas.mail import FolderRole
from fetcher.adapters.imap import _close_quietly, _connect, _quote
from fetcher.adapters.imap_parse import parse_list
from fetcher.domain.folders import folders_to_sync
from fetcher.domain.problems import ProblemKind, SyncProblem

log = logging.getLogger(__name__)
_EXISTS = re.compile(rb"^\* \d+ EXISTS", re.IGNORECASE)
RENEW_S = 25 * 60  # RFC 2177: re-issue IDLE at least every 29 minutes


def _protocol(detail: str) -> SyncProblem:
    return SyncProblem(ProblemKind.PROTOCOL, "IMAP", detail)


def idle_once(client: imaplib.IMAP4, stop: threading.Event, renew_s: float = RENEW_S) -> bool:
    """One IDLE command: True as soon as the server reports a new message (EXISTS).

    Ends with DONE when mail arrives, when ``renew_s`` passes or when ``stop`` is set.
    """
    tag: bytes = client._new_tag()
    client.send(tag + b" IDLE\r\n")
    arrived = False
    # Updates pending since the last command (mail that just arrived) may come first.
    while not (line := client.readline()).startswith(b"+"):
        if not line.startswith(b"*"):
            raise _protocol(f"IDLE refused: {line!r}")
        arrived = arrived or bool(_EXISTS.match(line))
    deadline = time.monotonic() + renew_s
    while not arrived and not stop.is_set() and time.monotonic() < deadline:
        ready, _, _ = select.select([client.sock], [], [], 0.5)
        if ready:
            arrived = bool(_EXISTS.match(client.readline()))
    client.send(b"DONE\r\n")
    while not (line := client.readline()).startswith(tag):
        arrived = arrived or bool(_EXISTS.match(line))
        if not line:
            raise _protocol("connection closed during IDLE")
    return arrived


def _open_folder(
    connection: ImapConnection,
    password: SecretStr,
    folder: str,
    timeout_s: float,
    egress: EgressPolicy,
) -> imaplib.IMAP4:
    client = _connect(connection, password, timeout_s, egress)
    typ, data = client.select(_quote(folder), readonly=True)
    if typ != "OK":
        _close_quietly(client)
        raise _protocol(f"EXAMINE {folder} answered {typ}: {data!r}")
    return client


def _pushed_folders(
    connection: ImapConnection,
    password: SecretStr,
    mail: MailSettings,
    timeout_s: float,
    egress: EgressPolicy,
) -> list[str]:
    """The synced INBOX and Sent folders of a mailbox, as the server names them."""
    client = _connect(connection, password, timeout_s, egress)
    try:
        typ, data = client.list('""', "*")
        if typ != "OK":
            raise _protocol(f"LIST answered {typ}: {data!r}")
        chosen = folders_to_sync(parse_list(list(data)), mail)
        return [f.name for f, role in chosen if role in (FolderRole.INBOX, FolderRole.SENT)]
    finally:
        _close_quietly(client)


async def _in_own_thread(client: imaplib.IMAP4, stop: threading.Event) -> bool:
    """``idle_once`` in a thread of its own. Not the loop's default executor: it has a few
    threads (cpu + 4), and IDLE holds one for up to RENEW_S, so a worker's watches would
    starve its sync jobs' IMAP calls."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not done.done():
            outcome()

    def run() -> None:
        try:
            arrived = idle_once(client, stop)
        except BaseException as error:  # handed to the awaiting task as is
            loop.call_soon_threadsafe(settle, partial(done.set_exception, error))
        else:
            loop.call_soon_threadsafe(settle, partial(done.set_result, arrived))

    threading.Thread(target=run, name="imap-idle", daemon=True).start()
    return await done


async def _idle_in_thread(client: imaplib.IMAP4, stop: threading.Event) -> bool:
    """``idle_once`` off the event loop; on cancellation it ends the IDLE before leaving."""
    running = asyncio.ensure_future(_in_own_thread(client, stop))
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        stop.set()
        with contextlib.suppress(Exception):
            await running
        raise


async def watch_mailbox(
    connection: ImapConnection,
    password: SecretStr,
    mail: MailSettings,
    on_new_mail: Callable[[], Awaitable[None]],
    *,
    timeout_s: float = 30,
    retry_s: float = 30,
    egress: EgressPolicy = GUARDED,
) -> None:
    """IDLE on the mailbox's synced INBOX and Sent folder until cancelled (on the INBOX
    alone when the folders cannot be listed), calling ``on_new_mail`` for every arrival."""
    try:
        folders = await asyncio.to_thread(
            _pushed_folders, connection, password, mail, timeout_s, egress
        )
    except (OSError, imaplib.IMAP4.error, SyncProblem) as error:
        log.warning("IDLE cannot list folders, watching INBOX", extra={"error": repr(error)})
        folders = ["INBOX"]
    await asyncio.gather(
        *(
            watch_folder(
                connection,
                password,
                f,
                on_new_mail,
                timeout_s=timeout_s,
                retry_s=retry_s,
                egress=egress,
            )
            for f in folders or ["INBOX"]
        )
    )


async def watch_inbox(
    connection: ImapConnection,
    password: SecretStr,
    on_new_mail: Callable[[], Awaitable[None]],
    *,
    timeout_s: float = 30,
    retry_s: float = 30,
    egress: EgressPolicy = GUARDED,
) -> None:
    """IDLE on the INBOX alone (see ``watch_folder``)."""
    await watch_folder(
        connection,
        password,
        "INBOX",
        on_new_mail,
        timeout_s=timeout_s,
        retry_s=retry_s,
        egress=egress,
    )


async def watch_folder(
    connection: ImapConnection,
    password: SecretStr,
    folder: str,
    on_new_mail: Callable[[], Awaitable[None]],
    *,
    timeout_s: float = 30,
    retry_s: float = 30,
    egress: EgressPolicy = GUARDED,
) -> None:
    """IDLE on one folder until cancelled, calling ``on_new_mail`` for every arrival.

    ``on_new_mail`` is also called each time the folder is (re)opened: mail that arrived
    while no IDLE was running is counted in EXAMINE's EXISTS and never reported as new,
    so a catch-up sync closes that gap. A lost connection is re-opened after ``retry_s``.
    """
    stop = threading.Event()
    try:
        while True:
            try:
                client = await asyncio.to_thread(
                    _open_folder, connection, password, folder, timeout_s, egress
                )
            except SyncProblem as problem:
                log.warning("IDLE cannot connect", extra={"problem": problem.kind})
                await asyncio.sleep(retry_s)
                continue
            try:
                await on_new_mail()
                while True:
                    if await _idle_in_thread(client, stop):
                        await on_new_mail()
            except (OSError, imaplib.IMAP4.error, SyncProblem) as error:
                log.warning("IDLE interrupted, reconnecting", extra={"error": repr(error)})
            finally:
                await asyncio.to_thread(_close_quietly, client)
            await asyncio.sleep(retry_s)
    finally:
        stop.set()
