"""'Test the connection': log in to each protocol of an account, change nothing, log out.

IMAP: LOGIN, LIST, and every chosen folder must exist (nothing is selected or fetched).
SMTP: EHLO, STARTTLS when asked, AUTH. CalDAV: principal discovery and its calendars.
Each check runs the synchronous client off the event loop with a timeout. Every host is
resolved and checked against ``crm_runtime.egress.refused_address`` first (unless private
hosts are allowed by settings), for a clear answer, and every connection a client then
makes goes to an address vetted at that moment (CalDAV redirects included), so an
account cannot be pointed at the service's own network, not even by a DNS answer that
changes in between.
"""

import asyncio
import imaplib
import smtplib
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import caldav
from caldav.lib import error as caldav_error
from pydantic import SecretStr

from crm_runtime.egress import (
    EgressPolicy,
    ForbiddenAddressError,
    GuardedIMAP4,
    GuardedIMAP4SSL,
    GuardedSMTP,
    GuardedSMTPSSL,
    forbidden_in,
    vetted,
)
from crm_runtime.egress_http import guard_dav_client
from crm_schemas.config import TlsMode
from timeline_api.domain.connection import Check, Failure, failed, listed_folder, passed
from timeline_api.ports.accounts import FoldersUnavailableError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CheckPolicy:
    """How checks run: whether private hosts are allowed, how long each may take."""

    allow_private: bool = False
    timeout_s: float = 15.0
    allowed_networks: tuple[str, ...] = ()

    @property
    def egress(self) -> EgressPolicy:
        """Where the checks' connections may go."""
        return EgressPolicy(self.allow_private, self.allowed_networks)


class _Failed(Exception):  # noqa: N818 - carries a Check out of the worker thread
    def __init__(self, check: Check) -> None:
        super().__init__(check.message)
        self.check = check


async def _in_thread(call: Callable[[], T], policy: CheckPolicy) -> T:
    return await asyncio.wait_for(asyncio.to_thread(call), policy.timeout_s + 5)


async def _resolve(protocol: str, host: str, port: int, policy: CheckPolicy) -> Check | None:
    """A failed check when the host cannot be resolved or points somewhere forbidden."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        vetted(host, infos, policy.egress)
    except (socket.gaierror, UnicodeError) as error:
        return failed(protocol, Failure.DNS, host, str(error))
    except ForbiddenAddressError as forbidden:
        return _forbidden(protocol, forbidden)
    return None


def _forbidden(protocol: str, forbidden: ForbiddenAddressError) -> Check:
    detail = f"{forbidden.address} is {forbidden.reason}"
    return failed(protocol, Failure.FORBIDDEN_HOST, forbidden.host, detail)


def _network_failure(protocol: str, host: str, error: BaseException) -> Check:
    forbidden = forbidden_in(error)
    if forbidden is not None:
        return _forbidden(protocol, forbidden)
    if isinstance(error, socket.gaierror):
        return failed(protocol, Failure.DNS, host, str(error))
    if isinstance(error, ssl.SSLError | ssl.CertificateError):
        return failed(protocol, Failure.TLS, host, str(error))
    if isinstance(error, OSError | TimeoutError):
        return failed(protocol, Failure.CONNECTION, host, str(error) or type(error).__name__)
    return failed(protocol, Failure.PROTOCOL, host, str(error))


# --- IMAP ----------------------------------------------------------------------------


def _imap(
    host: str, port: int, tls: TlsMode, user: str, password: SecretStr, policy: CheckPolicy
) -> imaplib.IMAP4:
    context = ssl.create_default_context()
    timeout, egress = policy.timeout_s, policy.egress
    try:
        if tls == TlsMode.SSL:
            client: imaplib.IMAP4 = GuardedIMAP4SSL(host, port, egress, context, timeout)
        else:
            client = GuardedIMAP4(host, port, egress, timeout)
            if tls == TlsMode.STARTTLS:
                client.starttls(ssl_context=context)
    except imaplib.IMAP4.error as error:
        raise _Failed(failed("IMAP", Failure.TLS, host, str(error))) from error
    except OSError as error:
        raise _Failed(_network_failure("IMAP", host, error)) from error
    try:
        client.login(user, password.get_secret_value())
    except imaplib.IMAP4.error as error:
        client.shutdown()
        raise _Failed(failed("IMAP", Failure.AUTH, host, str(error))) from error
    return client


def _folder_names(listing: list[Any]) -> set[str]:
    """Every folder name a LIST answered; a name sent as a literal comes as a tuple."""
    names = set()
    for item in listing:
        if isinstance(item, tuple):  # (b'(\\HasNoChildren) "/" {8}', b'Projects')
            line = f'{_text(item[0]).rsplit("{", 1)[0]}"{_text(item[1])}"'
        else:
            line = _text(item)
        name = listed_folder(line)
        if name is not None:
            names.add(name)
    return names


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _check_imap(
    host: str,
    port: int,
    tls: TlsMode,
    user: str,
    password: SecretStr,
    folders: Sequence[str],
    policy: CheckPolicy,
) -> Check:
    client = _imap(host, port, tls, user, password, policy)
    try:
        typ, listing = client.list()
        if typ != "OK":
            return failed("IMAP", Failure.PROTOCOL, host, f"LIST answered {typ}")
        names = _folder_names(listing)
        for folder in folders:
            if folder not in names and folder.upper() != "INBOX":
                return failed("IMAP", Failure.NO_SUCH_FOLDER, host, folder)
        return passed("IMAP", f"Logged in; {len(names)} folders")
    finally:
        try:
            client.logout()
        except (OSError, imaplib.IMAP4.error):
            client.shutdown()


async def check_imap(
    host: str,
    port: int,
    tls: TlsMode,
    user: str,
    password: SecretStr,
    folders: Sequence[str],
    policy: CheckPolicy,
) -> Check:
    """Log in over IMAP and check that every chosen folder exists."""
    refused = await _resolve("IMAP", host, port, policy)
    if refused is not None:
        return refused
    try:
        return await _in_thread(
            lambda: _check_imap(host, port, tls, user, password, folders, policy), policy
        )
    except _Failed as failure:
        return failure.check
    except (OSError, TimeoutError, imaplib.IMAP4.error) as error:
        return _network_failure("IMAP", host, error)


def _list_folders(
    host: str, port: int, tls: TlsMode, user: str, password: SecretStr, policy: CheckPolicy
) -> list[str]:
    client = _imap(host, port, tls, user, password, policy)
    try:
        typ, listing = client.list()
        if typ != "OK":
            raise _Failed(failed("IMAP", Failure.PROTOCOL, host, f"LIST answered {typ}"))
        return sorted(_folder_names(listing), key=lambda n: (n.upper() != "INBOX", n.lower()))
    finally:
        try:
            client.logout()
        except (OSError, imaplib.IMAP4.error):
            client.shutdown()


async def list_folders(
    host: str, port: int, tls: TlsMode, user: str, password: SecretStr, policy: CheckPolicy
) -> list[str]:
    """The folders the IMAP server lists, INBOX first; ``FoldersUnavailableError`` saying
    why when it cannot."""
    refused = await _resolve("IMAP", host, port, policy)
    if refused is not None:
        raise FoldersUnavailableError(refused)
    try:
        return await _in_thread(
            lambda: _list_folders(host, port, tls, user, password, policy), policy
        )
    except _Failed as failure:
        raise FoldersUnavailableError(failure.check) from failure
    except (OSError, TimeoutError, imaplib.IMAP4.error) as error:
        raise FoldersUnavailableError(_network_failure("IMAP", host, error)) from error


# --- SMTP ----------------------------------------------------------------------------


def _check_smtp(
    host: str, port: int, tls: TlsMode, user: str, password: SecretStr, policy: CheckPolicy
) -> Check:
    context = ssl.create_default_context()
    timeout, egress = policy.timeout_s, policy.egress
    try:
        if tls == TlsMode.SSL:
            client: smtplib.SMTP = GuardedSMTPSSL(host, port, egress, timeout, context)
        else:
            client = GuardedSMTP(host, port, egress, timeout)
            if tls == TlsMode.STARTTLS:
                client.starttls(context=context)
    except smtplib.SMTPNotSupportedError as error:
        raise _Failed(failed("SMTP", Failure.TLS, host, "STARTTLS not offered")) from error
    except smtplib.SMTPException as error:
        raise _Failed(failed("SMTP", Failure.PROTOCOL, host, str(error))) from error
    except OSError as error:
        raise _Failed(_network_failure("SMTP", host, error)) from error
    try:
        client.login(user, password.get_secret_value())
    except smtplib.SMTPAuthenticationError as error:
        raise _Failed(failed("SMTP", Failure.AUTH, host, str(error.smtp_error))) from error
    except smtplib.SMTPException as error:
        raise _Failed(failed("SMTP", Failure.PROTOCOL, host, str(error))) from error
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()
    return passed("SMTP", "Logged in")


async def check_smtp(
    host: str,
    port: int,
    tls: TlsMode,
    user: str,
    password: SecretStr,
    policy: CheckPolicy,
) -> Check:
    """Log in over SMTP (nothing is sent)."""
    refused = await _resolve("SMTP", host, port, policy)
    if refused is not None:
        return refused
    try:
        return await _in_thread(
            lambda: _check_smtp(host, port, tls, user, password, policy), policy
        )
    except _Failed as failure:
        return failure.check
    except (OSError, TimeoutError) as error:
        return _network_failure("SMTP", host, error)


# --- CalDAV --------------------------------------------------------------------------


def _check_caldav(url: str, user: str, password: SecretStr, policy: CheckPolicy) -> Check:
    host = urlsplit(url).hostname or url
    client = caldav.DAVClient(
        url=url,
        username=user,
        password=password.get_secret_value(),
        timeout=int(policy.timeout_s),
        enable_rfc6764=False,
    )
    try:
        with guard_dav_client(client, policy.egress):
            calendars = cast(Any, client).principal().calendars()
    except caldav_error.AuthorizationError as error:
        return failed("CalDAV", Failure.AUTH, host, str(error))
    except caldav_error.DAVError as error:
        return failed("CalDAV", Failure.NOT_CALDAV, host, str(error))
    except (OSError, ValueError) as error:  # requests' errors are OSErrors
        forbidden = forbidden_in(error)
        if forbidden is not None:  # a redirect to a forbidden address
            return _forbidden("CalDAV", forbidden)
        text = str(error).lower()
        if "ssl" in type(error).__name__.lower() or "certificate" in text:
            return failed("CalDAV", Failure.TLS, host, str(error))
        if "resolve" in text or "name or service not known" in text:
            return failed("CalDAV", Failure.DNS, host, str(error))
        return _network_failure("CalDAV", host, error)
    return passed("CalDAV", f"Found {len(calendars)} calendars")


async def check_caldav(url: str, user: str, password: SecretStr, policy: CheckPolicy) -> Check:
    """Discover the principal's calendars over CalDAV (nothing is written)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return failed("CalDAV", Failure.NOT_CALDAV, url, "the address must be an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    refused = await _resolve("CalDAV", parts.hostname, port, policy)
    if refused is not None:
        return refused
    try:
        return await _in_thread(lambda: _check_caldav(url, user, password, policy), policy)
    except (OSError, TimeoutError) as error:
        return _network_failure("CalDAV", parts.hostname, error)


class ConnectionChecks:
    """``ports.accounts.ConnectionChecker``: the checks above, under the deployment's policy."""

    def __init__(self, policy: CheckPolicy) -> None:
        self._policy = policy

    async def imap(
        self,
        host: str,
        port: int,
        tls: TlsMode,
        user: str,
        password: SecretStr,
        folders: Sequence[str],
    ) -> Check:
        """Log in over IMAP and check that every chosen folder exists."""
        return await check_imap(host, port, tls, user, password, folders, self._policy)

    async def smtp(
        self, host: str, port: int, tls: TlsMode, user: str, password: SecretStr
    ) -> Check:
        """Log in over SMTP (nothing is sent)."""
        return await check_smtp(host, port, tls, user, password, self._policy)

    async def caldav(self, url: str, user: str, password: SecretStr) -> Check:
        """Discover the principal's calendars over CalDAV (nothing is written)."""
        return await check_caldav(url, user, password, self._policy)

    async def folders(
        self, host: str, port: int, tls: TlsMode, user: str, password: SecretStr
    ) -> list[str]:
        """The folders the IMAP server lists for the login, INBOX first."""
        return await list_folders(host, port, tls, user, password, self._policy)
