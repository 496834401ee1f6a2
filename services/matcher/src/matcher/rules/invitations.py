"""Invitation mails: a calendar invite sent by mail is left to calendar sync.

Like the reference product, a message that carries an iTIP invitation or cancellation
(a ``text/calendar`` part with METHOD REQUEST or CANCEL) is not put on the timelines as a
message: the meeting itself arrives through the calendar, with its attendees and
responses, and showing both would show the same thing twice.
"""

import re

from crm_schemas.mail import RawMessage

INVITATION_METHODS = frozenset({"REQUEST", "CANCEL"})
_METHOD = re.compile(r"method\s*=\s*\"?([A-Za-z-]+)", re.IGNORECASE)


def calendar_method(message: RawMessage) -> str | None:
    """The iTIP METHOD the message carries, from its structure or its Content-Type."""
    if message.calendar_method:
        return message.calendar_method.strip().upper()
    if message.content_type.strip().lower() == "text/calendar":
        found = _METHOD.search(message.headers.get("content-type", ""))
        return found[1].upper() if found else "REQUEST"
    return None


def is_calendar_invitation(message: RawMessage) -> str | None:
    """The METHOD when the message is an invitation or cancellation, else None."""
    method = calendar_method(message)
    return method if method in INVITATION_METHODS else None
