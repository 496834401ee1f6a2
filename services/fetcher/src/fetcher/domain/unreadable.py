"""Items that cannot travel, and the drop that says so, so one never stops a mailbox.

Parsing is best-effort by design (``domain.mime``), but a message no rule foresaw must
still not fail its job: the job would be retried, then dead-lettered, and every message
after it in the mailbox would never come. So each item is read and checked on its own:
what cannot be read, or cannot be published as it is (text no UTF-8 can carry, a record
too large for Kafka), becomes an ``ItemDropped`` with the reason ``unreadable``, which
``explain`` answers with. The detail says what was wrong, never what the item holds.
"""

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from crm_schemas.calendar import RawEvent
from crm_schemas.ids import event_item_id, message_item_id, synthetic_message_id
from crm_schemas.mail import RawMessage
from crm_schemas.outcomes import DropReason, ItemDropped
from fetcher.domain.mime import MessageSource, fetched_message_id, raw_message
from fetcher.domain.model import FetchedMessage

MAX_RECORD_BYTES = 900_000
"""The largest record an item may be: Kafka refuses a request over 1 MiB (the producer's
``max_request_size`` and the broker's ``message.max.bytes``), and a record travels with
headers and, downstream, inside larger events (a MatchedMessage adds participants)."""
RULE = "is_representable"
MAX_DETAIL_CHARS = 200


def unrepresentable(item: BaseModel) -> str | None:
    """Why an item cannot be published as it is, or None when it can."""
    try:
        size = len(item.__pydantic_serializer__.to_json(item, by_alias=True))
    except PydanticSerializationError:
        return "a field holds text that cannot be encoded as UTF-8"
    if size > MAX_RECORD_BYTES:
        return f"its record would be {size:,} bytes, over the limit of {MAX_RECORD_BYTES:,}"
    return None


def dropped_message(message: RawMessage, detail: str) -> ItemDropped:
    """The unreadable drop of a message that was read but cannot travel."""
    return ItemDropped(
        item_id=message.item_id,
        workspace_id=message.workspace_id,
        account_id=message.account_id,
        kind="message",
        natural_id=message.message_id,
        reason=DropReason.UNREADABLE,
        rule=RULE,
        detail=detail,
    )


def checked_message(message: RawMessage) -> RawMessage | ItemDropped:
    """The message when it can be published; else its unreadable drop."""
    why = unrepresentable(message)
    return message if why is None else dropped_message(message, why)


def checked_event(event: RawEvent) -> RawEvent | ItemDropped:
    """The meeting when it can be published; else its unreadable drop."""
    why = unrepresentable(event)
    if why is None:
        return event
    return unreadable_event(event.workspace_id, event.account_id, event.ical_uid, why)


def unreadable_event(workspace_id: str, account_id: str, uid: str, detail: str) -> ItemDropped:
    """The unreadable drop of calendar data (a whole event or series: its UID's item).
    The detail is cut short: a parser's message may quote what it could not read."""
    return ItemDropped(
        item_id=event_item_id(workspace_id, uid, None),
        workspace_id=workspace_id,
        account_id=account_id,
        kind="event",
        natural_id=uid,
        reason=DropReason.UNREADABLE,
        rule=RULE,
        detail=detail[:MAX_DETAIL_CHARS],
    )


def read_message(
    fetched: FetchedMessage, source: MessageSource, ref: str | None = None
) -> RawMessage | ItemDropped:
    """A fetched message as a RawMessage, or its unreadable drop when it cannot be read.
    ``ref``: where the provider keeps it (IMAP: folder/uidvalidity/uid, the default).
    Whether it can travel is checked where its batch is built (``checked_message``).

    Whatever the bytes hold, this returns: the standard library's parsers can fail in
    ways no list of exceptions foresees (a recursion, an index out of range), and one
    message's content must never fail the job that reads a whole mailbox.
    """
    try:
        return raw_message(fetched, source)
    except Exception as error:  # any parse failure at all is this message's drop
        where = ref or f"{source.folder}/{source.uidvalidity}/{fetched.uid}"
        message_id = _message_id(fetched, source, where)
        return ItemDropped(
            item_id=message_item_id(source.workspace_id, message_id),
            workspace_id=source.workspace_id,
            account_id=source.account_id,
            kind="message",
            natural_id=message_id,
            reason=DropReason.UNREADABLE,
            rule=RULE,
            detail=f"the message could not be parsed ({type(error).__name__})",
        )


def _message_id(fetched: FetchedMessage, source: MessageSource, where: str) -> str:
    """The message's id as ``raw_message`` would give it, if the headers parse at all;
    else one made from where it lies, the same on every fetch."""
    try:
        return fetched_message_id(fetched)
    except Exception:  # the headers themselves are what is broken
        return synthetic_message_id(source.account_id, where)
