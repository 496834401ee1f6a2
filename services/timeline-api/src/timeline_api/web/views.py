"""Words and numbers the pages show for the API's values: presentation only (the rules
that produce the values are in ``timeline_api.domain``)."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from crm_schemas.mail import Participant

STATE_WORDS: Mapping[str, str] = {
    "pending": "Waiting for its first sync",
    "importing": "Importing",
    "up_to_date": "Up to date",
    "failing": "Failing",
}

DROP_WORDS: Mapping[str, str] = {
    "internal": "every participant is in your organisation, so it stays off the timelines",
    "group_mail": "it is group mail (a mailing list, a no-reply or a robot sender, bulk mail)",
    "excluded_folder": "it is in a folder that mailbox's settings exclude",
    "blocked": "a sender or recipient is on the mailbox's blocklist",
    "private_event": "the meeting is marked private",
    "account_disconnected": "the account it came from was disconnected",
    "no_participants": "it has no participant to link to a record",
    "calendar_invitation": "it is a calendar invitation: the meeting itself is on the Calendar tab",
    "unreadable": "its headers could not be read",
}

MAIL_VISIBILITY_WORDS: Mapping[str, str] = {
    "metadata": "Sender, recipients, date and time only",
    "subject": "Those and the subject",
    "full": "Everything: the body and the attachments' names too",
}
CALENDAR_VISIBILITY_WORDS: Mapping[str, str] = {
    "metadata": "Date, time and participants only",
    "everything": "Everything: title, description, place",
}
CONTACT_CREATION_WORDS: Mapping[str, str] = {
    "none": "Never create people",
    "sent_and_received": "Create everyone outside the team I exchange mail with",
    "sent_only": "Create only people I have written to",
}


def when(moment: datetime | None) -> str:
    """A moment as a person reads it: ``Fri 4 Dec 2026, 14:05 UTC``."""
    if moment is None:
        return "never"
    return moment.strftime("%a %-d %b %Y, %H:%M %Z").strip()


def duration(minutes: int) -> str:
    """A meeting's length in words."""
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return f"{hours} h {rest} min"
    return f"{hours} h" if hours else f"{rest} min"


def participant_label(participant: Participant) -> str:
    """A participant as ``Name <address>``, or the address alone."""
    return f"{participant.name} <{participant.email}>" if participant.name else participant.email


def progress(status: Any) -> int | None:
    """How far an import is, in percent; None when its total is not known yet."""
    total = int(getattr(status, "total", 0) or 0)
    if not total:
        return None
    return max(0, min(100, round(100 * int(status.done) / total)))
