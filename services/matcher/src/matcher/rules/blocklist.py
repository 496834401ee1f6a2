"""The mailbox's blocklist: addresses and whole domains (with their subdomains)."""

from collections.abc import Iterable

from matcher.rules.internal import email_domain


def blocked_address(emails: Iterable[str], blocklist: Iterable[str]) -> str | None:
    """The first participant the blocklist names, or None.

    An entry with an ``@`` is an address; any other entry is a domain and also covers
    its subdomains. A leading ``@`` on a domain entry is allowed.
    """
    entries = [b.strip().lower() for b in blocklist if b.strip()]
    addresses = {e for e in entries if "@" in e and not e.startswith("@")}
    domains = tuple(e.lstrip("@") for e in entries if e not in addresses)
    for email in emails:
        domain = email_domain(email)
        if email in addresses or any(domain == d or domain.endswith(f".{d}") for d in domains):
            return email
    return None
