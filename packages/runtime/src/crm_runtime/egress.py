"""Connections to hosts users typed: never to the service's own network.

An account's IMAP, SMTP and CalDAV hosts are typed by users, so every connection to them
is a server-side request forgery risk: a host name that resolves (now, or after a DNS
change made once the account was accepted) to a loopback, private or link-local address
would let a user read the deployment's internal services. The rule is one pure function,
``refused_address``; every connection the fetcher and the API's connection check make
resolves the host, refuses it when one of its addresses is refused, and connects to an
address it just vetted (so a second resolution cannot answer differently), unless the
deployment allows private hosts (the local stack does: its servers are on 127.0.0.1).
HTTP (CalDAV, redirects included) goes through ``crm_runtime.egress_http``.
"""

import imaplib
import ipaddress
import smtplib
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

AddrInfo = tuple[Any, ...]
"""One answer of ``socket.getaddrinfo``: (family, type, proto, canonname, sockaddr)."""


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Where connections to user-typed hosts may go.

    ``allow_private``: every address (development, tests). ``allowed_networks``: private
    networks a deployment trusts anyway (an IMAP server of its own at 10.1.2.3), in CIDR.
    """

    allow_private: bool = False
    allowed_networks: tuple[str, ...] = ()


GUARDED = EgressPolicy()
"""The production policy: no private address at all."""


class ForbiddenAddressError(OSError):
    """A host resolved to an address connections may not go to."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        super().__init__(f"{host} resolves to {address}, a {reason} address")
        self.host, self.address, self.reason = host, address, reason


def refused_address(address: str, allowed_networks: Sequence[str] = ()) -> str | None:
    """Why a connection may not go to this IP address, None when it may.

    Loopback, link-local, private, shared (CGNAT), multicast, reserved and unspecified
    addresses are refused, and so are IPv6 addresses that map or embed one of those;
    an address inside one of ``allowed_networks`` is not.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if any(ip in ipaddress.ip_network(n, strict=False) for n in allowed_networks):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return refused_address(str(embedded), allowed_networks)
    for flag in ("is_loopback", "is_link_local", "is_private", "is_multicast"):
        if getattr(ip, flag):
            return flag.removeprefix("is_").replace("_", "-")
    if ip.is_reserved or ip.is_unspecified:
        return "reserved"
    if isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"):
        return "shared"
    if not ip.is_global:
        return "not global"
    return None


def vetted(host: str, infos: Iterable[AddrInfo], policy: EgressPolicy) -> list[AddrInfo]:
    """The resolved addresses of ``host``, or ``ForbiddenAddressError`` when one of them
    is refused (a host with one private address among public ones is not trusted)."""
    answers = list(infos)
    if policy.allow_private:
        return answers
    for info in answers:
        address = str(info[4][0])
        reason = refused_address(address, policy.allowed_networks)
        if reason is not None:
            raise ForbiddenAddressError(host, address, reason)
    return answers


def forbidden_in(error: BaseException) -> ForbiddenAddressError | None:
    """The refusal behind an error a client library wrapped (its cause, context or
    arguments), or None."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ForbiddenAddressError):
            return current
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        pending += [a for a in current.args if isinstance(a, BaseException)]
    return None


def open_connection(
    host: str, port: int, timeout: float | None, policy: EgressPolicy
) -> socket.socket:
    """A TCP connection to ``host``: resolved once, every address vetted, then the first
    that answers connected to by address (as ``socket.create_connection`` would)."""
    infos = vetted(host, socket.getaddrinfo(host, port, type=socket.SOCK_STREAM), policy)
    error: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as failed:
            sock.close()
            error = failed
    raise error or OSError(f"{host} has no address")


class GuardedIMAP4(imaplib.IMAP4):
    """imaplib's IMAP4 whose connection goes through ``open_connection``."""

    def __init__(
        self, host: str, port: int, policy: EgressPolicy, timeout: float | None = None
    ) -> None:
        self._egress = policy
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return open_connection(self.host, self.port, timeout, self._egress)


class GuardedIMAP4SSL(imaplib.IMAP4_SSL):
    """imaplib's IMAP4_SSL whose connection goes through ``open_connection``."""

    def __init__(
        self,
        host: str,
        port: int,
        policy: EgressPolicy,
        ssl_context: Any,
        timeout: float | None = None,
    ) -> None:
        self._egress = policy
        super().__init__(host, port, ssl_context=ssl_context, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = open_connection(self.host, self.port, timeout, self._egress)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[no-any-return]


class GuardedSMTP(smtplib.SMTP):
    """smtplib's SMTP whose connection goes through ``open_connection``."""

    def __init__(self, host: str, port: int, policy: EgressPolicy, timeout: float) -> None:
        self._egress = policy
        super().__init__(host, port, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return open_connection(host, port, timeout, self._egress)


class GuardedSMTPSSL(smtplib.SMTP_SSL):
    """smtplib's SMTP_SSL whose connection goes through ``open_connection``."""

    def __init__(
        self, host: str, port: int, policy: EgressPolicy, timeout: float, context: Any
    ) -> None:
        self._egress = policy
        super().__init__(host, port, timeout=timeout, context=context)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = open_connection(host, port, timeout, self._egress)
        return self.context.wrap_socket(sock, server_hostname=host)
