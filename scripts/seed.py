"""Put mail into a Dovecot mailbox and meetings into a Radicale calendar, idempotently.

Used by `make run` for the demo mailbox and by the end-to-end tests.
"""

from __future__ import annotations

import imaplib
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, cast

import caldav


def build_message(
    *,
    message_id: str,
    sender: str,
    to: list[str],
    subject: str,
    body: str,
    sent_at: datetime,
    cc: list[str] | None = None,
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """An RFC 5322 message with the given headers."""
    message = EmailMessage()
    message["Message-ID"] = f"<{message_id}>"
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = subject
    message["Date"] = format_datetime(sent_at)
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to}>"
        message["References"] = f"<{in_reply_to}>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return bytes(message)


def append_messages(
    host: str, port: int, user: str, password: str, folder: str, messages: list[bytes]
) -> int:
    """Append the messages whose Message-ID the folder does not have yet; return how many."""
    imap = imaplib.IMAP4(host, port)
    try:
        imap.login(user, password)
        imap.create(folder)  # fails harmlessly when it exists
        imap.select(folder)
        added = 0
        for raw in messages:
            message_id = _header(raw, "Message-ID")
            _, found = imap.search(None, "HEADER", "Message-ID", message_id)
            if found and found[0].split():
                continue
            imap.append(folder, "", imaplib.Time2Internaldate(time.time()), raw)
            added += 1
        return added
    finally:
        imap.logout()


def _header(raw: bytes, name: str) -> str:
    for line in raw.decode(errors="replace").splitlines():
        if line.lower().startswith(f"{name.lower()}:"):
            return line.split(":", 1)[1].strip()
    raise ValueError(f"message has no {name} header")


def build_event(
    *,
    uid: str,
    summary: str,
    start: datetime,
    end: datetime,
    organizer: str,
    attendees: list[str],
    private: bool = False,
) -> str:
    """A VCALENDAR with one VEVENT."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//crm-sync//seed//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{stamp}",
        f"DTSTART:{start.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}",
        f"DTEND:{end.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}",
        f"SUMMARY:{summary}",
        f"ORGANIZER:mailto:{organizer}",
        *(f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{a}" for a in attendees),
        *(["CLASS:PRIVATE"] if private else []),
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"


def ensure_caldav_user(users_file: Path, user: str, password: str) -> None:
    """Add a user to Radicale's htpasswd file (plain) unless it is there."""
    lines = users_file.read_text().splitlines() if users_file.exists() else []
    if not any(line.split(":", 1)[0] == user for line in lines):
        with users_file.open("a") as handle:
            handle.write(f"{user}:{password}\n")


def put_events(url: str, user: str, password: str, calendar_name: str, events: list[str]) -> str:
    """Create the calendar if needed and save the events into it; return the calendar URL."""
    with caldav.DAVClient(url=url, username=user, password=password) as client:
        principal = cast(Any, client).principal()
        calendar = next((c for c in principal.calendars() if c.name == calendar_name), None)
        if calendar is None:
            calendar = principal.make_calendar(name=calendar_name)
        for ics in events:
            calendar.save_event(ics)
        return str(calendar.url)
