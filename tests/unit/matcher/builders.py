"""Messages and meetings for the matcher's rule tests: one valid item, fields overridable."""

from datetime import UTC, datetime

from crm_schemas.base import Address
from crm_schemas.calendar import Attendee, RawEvent
from crm_schemas.mail import FolderRole, RawMessage

OWN = ("acme.test",)
OWNER = frozenset({"alice@acme.test"})


def message(**fields: object) -> RawMessage:
    """A message from a client to the owner, with any field replaced."""
    base: dict[str, object] = {
        "item_id": "i1",
        "workspace_id": "w1",
        "account_id": "a1",
        "provider": "imap",
        "provider_ref": "INBOX/1/1",
        "folder": "INBOX",
        "folder_role": FolderRole.INBOX,
        "message_id": "m1@x",
        "sent_at": datetime(2026, 1, 1, tzinfo=UTC),
        "from": (Address(email="jane@client.test", name="Jane"),),
        "to": (Address(email="alice@acme.test"),),
    }
    return RawMessage.model_validate(base | fields)


def event(**fields: object) -> RawEvent:
    """A meeting the owner organises with a client, with any field replaced."""
    base: dict[str, object] = {
        "item_id": "e1",
        "workspace_id": "w1",
        "account_id": "a1",
        "provider": "caldav",
        "calendar": "cal",
        "ical_uid": "uid-1",
        "starts_at": datetime(2026, 1, 1, 9, tzinfo=UTC),
        "ends_at": datetime(2026, 1, 1, 10, tzinfo=UTC),
        "organizer": Address(email="alice@acme.test"),
        "attendees": (Attendee(email="jane@client.test", response="ACCEPTED"),),
    }
    return RawEvent.model_validate(base | fields)
