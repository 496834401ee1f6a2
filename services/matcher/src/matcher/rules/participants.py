"""Who took part in a message or a meeting, each address once with all its roles."""

from dataclasses import dataclass

from crm_schemas.base import Address
from crm_schemas.calendar import RawEvent
from crm_schemas.ids import normalize_email
from crm_schemas.mail import ParticipantRole, RawMessage


@dataclass(frozen=True, slots=True)
class Seen:
    """An address as it appeared, with every role it had."""

    email: str
    name: str | None
    roles: tuple[ParticipantRole, ...]
    response: str | None = None


def _merge(entries: list[tuple[Address, ParticipantRole, str | None]]) -> tuple[Seen, ...]:
    merged: dict[str, Seen] = {}
    for address, role, response in entries:
        email = normalize_email(address.email)
        if "@" not in email:
            continue
        known = merged.get(email)
        if known is None:
            merged[email] = Seen(email, address.name, (role,), response)
        elif role not in known.roles:
            merged[email] = Seen(
                email, known.name or address.name, (*known.roles, role), known.response or response
            )
    return tuple(merged.values())


def message_participants(message: RawMessage) -> tuple[Seen, ...]:
    """Sender and recipients of a message (from, to, cc, bcc), in that order."""
    entries: list[tuple[Address, ParticipantRole, str | None]] = []
    for role, addresses in (
        (ParticipantRole.FROM, message.from_),
        (ParticipantRole.TO, message.to),
        (ParticipantRole.CC, message.cc),
        (ParticipantRole.BCC, message.bcc),
    ):
        entries.extend((address, role, None) for address in addresses)
    return _merge(entries)


def event_participants(event: RawEvent) -> tuple[Seen, ...]:
    """Organizer and attendees of a meeting, with their responses."""
    entries: list[tuple[Address, ParticipantRole, str | None]] = []
    if event.organizer is not None:
        entries.append((event.organizer, ParticipantRole.ORGANIZER, None))
    entries.extend(
        (Address(email=a.email, name=a.name), ParticipantRole.ATTENDEE, a.response)
        for a in event.attendees
    )
    return _merge(entries)
