"""HTTP to user-typed hosts (CalDAV) under ``crm_runtime.egress``'s rule.

The ``caldav`` library speaks HTTP through a niquests session. Its connections resolve
their host through the session's resolver, so a resolver that vets every answer checks
every connection the session makes, the ones a redirect leads to included, at the
moment it is made.
"""

import socket
from typing import TYPE_CHECKING, Any

import niquests

if TYPE_CHECKING:  # the same class: niquests aliases urllib3-future under its own name
    from urllib3_future.contrib.resolver.system import SystemResolver
else:  # a session accepts only resolvers of the alias's module
    from niquests.packages.urllib3.contrib.resolver.system import SystemResolver

from crm_runtime.egress import EgressPolicy, vetted


class VettingResolver(SystemResolver):
    """The system resolver, refusing a host one of whose addresses the policy refuses
    (``ForbiddenAddressError``, which the session raises wrapped in its own error)."""

    def __init__(self, policy: EgressPolicy) -> None:
        super().__init__()
        self._policy = policy

    def recycle(self) -> "VettingResolver":
        return self

    def getaddrinfo(
        self,
        host: bytes | str | None,
        port: str | int | None,
        family: socket.AddressFamily,
        type: socket.SocketKind,
        proto: int = 0,
        flags: int = 0,
        *,
        quic_upgrade_via_dns_rr: bool = False,
    ) -> list[Any]:
        name = host.decode("ascii") if isinstance(host, bytes) else (host or "localhost")
        infos = super().getaddrinfo(host, port, family, type, proto, flags)
        return vetted(name, infos, self._policy)


def guarded_session(policy: EgressPolicy) -> niquests.Session:
    """A niquests session whose every connection goes to vetted addresses only."""
    return niquests.Session(resolver=VettingResolver(policy))


def guard_dav_client(client: Any, policy: EgressPolicy) -> Any:
    """A ``caldav.DAVClient`` with its session replaced by a guarded one; the client."""
    client.session.close()
    client.session = guarded_session(policy)
    return client
