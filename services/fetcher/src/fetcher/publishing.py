"""What a job publishes for the items it read: each where it belongs, the bad ones as drops.

Every batch is built here, so no item that cannot travel reaches the bulk publish (one
would fail the whole batch, then the job, again and again): each is checked on its own
(``domain.unreadable``) and one that fails the check goes to the dropped topic instead,
where ``explain`` finds it.

Every record of the raw topics (a message, a meeting, a meeting's removal) is keyed by its
copy, ``ids.copy_key`` (item and account): the compacted raw topics keep the newest record
of each mailbox's copy, for a replay (docs/adr/0021). Drops stay keyed by item id.
"""

import logging
from collections.abc import Iterable

from crm_schemas.calendar import RawEvent, RawEventRemoved
from crm_schemas.ids import copy_key
from crm_schemas.mail import RawMessage
from crm_schemas.outcomes import DropReason, ItemDropped
from crm_schemas.topics import Topics
from fetcher.domain.unreadable import checked_event, checked_message
from fetcher.ports import Outgoing

log = logging.getLogger(__name__)


def message_records(
    items: Iterable[RawMessage | ItemDropped], topics: Topics
) -> tuple[list[Outgoing], int]:
    """The records of a batch of messages, and how many of them are unreadable drops."""
    records: list[Outgoing] = []
    dropped = 0
    for item in items:
        checked = checked_message(item) if isinstance(item, RawMessage) else item
        if isinstance(checked, RawMessage):
            records.append(
                (topics.mail_raw, copy_key(checked.item_id, checked.account_id), checked)
            )
        else:
            records.append(dropped_record(checked, topics))
            dropped += 1
    return records, dropped


def event_record(event: RawEvent, topics: Topics) -> Outgoing:
    """A meeting's record on calendar.raw, or its unreadable drop's on the dropped topic."""
    checked = checked_event(event)
    if isinstance(checked, RawEvent):
        return topics.calendar_raw, copy_key(checked.item_id, checked.account_id), checked
    return dropped_record(checked, topics)


def removal_record(removed: RawEventRemoved, topics: Topics) -> Outgoing:
    """A meeting's removal on calendar.raw, under the same key as the copy's versions, so
    it is what compaction keeps of that copy."""
    return topics.calendar_raw, copy_key(removed.item_id, removed.account_id), removed


def dropped_record(dropped: ItemDropped, topics: Topics) -> Outgoing:
    """A drop's record; an unreadable one is logged too (what was wrong, no content)."""
    if dropped.reason is not DropReason.UNREADABLE:
        return topics.dropped, dropped.item_id, dropped
    log.warning(
        "item unreadable, dropped",
        extra={
            "account_id": dropped.account_id,
            "item_id": dropped.item_id,
            "kind": dropped.kind,
            "reason": dropped.reason,
            "detail": dropped.detail,
        },
    )
    return topics.dropped, dropped.item_id, dropped
