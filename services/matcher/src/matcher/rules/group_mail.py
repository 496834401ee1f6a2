"""Group and robot mail: mailing lists, bulk senders, automatic replies and bounces.

Header rules only for now (RFC 2369 list headers, Precedence, RFC 3834 Auto-Submitted,
null Return-Path, multipart/report). Role and no-reply local parts come with their
maintained list in the email-sync issue.
"""

from collections.abc import Mapping

_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})


def group_mail_signal(headers: Mapping[str, str], content_type: str) -> str | None:
    """The header that marks a message as group or robot mail, or None for a person's."""
    if "list-id" in headers:
        return "List-Id"
    if "list-unsubscribe" in headers:
        return "List-Unsubscribe"
    if headers.get("precedence", "").strip().lower() in _BULK_PRECEDENCE:
        return "Precedence"
    auto = headers.get("auto-submitted", "").strip().lower()
    if auto and auto != "no":
        return "Auto-Submitted"
    if headers.get("return-path", "").strip() == "<>":
        return "Return-Path"
    if content_type.strip().lower().startswith("multipart/report"):
        return "multipart/report"
    return None
