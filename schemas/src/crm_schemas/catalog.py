"""Which contract travels on which topic: the table the documentation is built from.

Only the shared contracts: the timeline API's own topics (``Topics.timeline_index``,
``Topics.timeline_rosters``, ``Topics.replay_jobs``) carry events that only it reads,
defined in the service.
"""

from typing import Any

from crm_schemas.calendar import MatchedCalendarItem, RawCalendarItem, TimelineCalendarItem
from crm_schemas.config import ConfigEvent
from crm_schemas.lookups import MessageLookupAnswered, MessageLookupRequested
from crm_schemas.mail import MatchedMailItem, RawMessage, TimelineMailItem
from crm_schemas.outcomes import DeadLetter, ItemDropped
from crm_schemas.record_commands import RecordCommand, RecordOutcome
from crm_schemas.records import RecordEvent
from crm_schemas.sync import SyncRequested, SyncStatusChanged
from crm_schemas.topics import Topics


def catalog(topics: Topics) -> dict[str, tuple[Any, str]]:
    """Topic name -> (contract, who publishes it)."""
    return {
        topics.config: (ConfigEvent, "timeline-api"),
        topics.sync_requests: (SyncRequested, "fetcher scheduler, timeline-api"),
        topics.sync_status: (SyncStatusChanged, "fetcher"),
        topics.mail_raw: (RawMessage, "fetcher"),
        topics.calendar_raw: (RawCalendarItem, "fetcher"),
        topics.mail_replay: (RawMessage, "timeline-api (replay jobs: mail.raw's records)"),
        topics.calendar_replay: (
            RawCalendarItem,
            "timeline-api (replay jobs: calendar.raw's records)",
        ),
        topics.mail_matched: (MatchedMailItem, "matcher"),
        topics.calendar_matched: (MatchedCalendarItem, "matcher"),
        topics.dropped: (ItemDropped, "fetcher, matcher"),
        topics.records: (RecordEvent, "enricher (people, companies), timeline-api (opportunities)"),
        topics.record_commands: (
            RecordCommand,
            "enricher (people seen), timeline-api (records API)",
        ),
        topics.record_outcomes: (RecordOutcome, "enricher"),
        topics.timeline_messages: (TimelineMailItem, "enricher"),
        topics.timeline_events: (TimelineCalendarItem, "enricher"),
        topics.lookup_requests: (MessageLookupRequested, "timeline-api (explain)"),
        topics.lookup_results: (MessageLookupAnswered, "fetcher"),
        topics.dead_letter: (DeadLetter, "every service"),
    }
