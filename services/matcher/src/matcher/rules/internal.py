"""What is internal: addresses in the organisation's own domains."""

from collections.abc import Iterable


def email_domain(email: str) -> str:
    """The domain part of an address, lower-cased."""
    return email.rpartition("@")[2].strip().lower().rstrip(".")


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
    return tuple(d.strip().lower().rstrip(".") for d in domains if d.strip())
