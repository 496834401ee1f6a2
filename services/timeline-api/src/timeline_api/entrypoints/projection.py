"""The projection's consumers: which topic feeds which handler of ``service.Projection``.

One consumer group per topic under ``GROUP``, each consuming in batches: concurrent
across keys, in order within a key. The read model subscribes its own consumers (the
heads' index and rosters topics).
"""

from typing import Any

from crm_runtime.delivery import ManyHandler
from crm_runtime.service import Runtime
from crm_schemas import groups
from crm_schemas.calendar import TimelineCalendarItem
from crm_schemas.config import ConfigEvent
from crm_schemas.lookups import MessageLookupAnswered
from crm_schemas.outcomes import DeadLetter, ItemDropped
from crm_schemas.records import RecordEvent
from crm_schemas.sync import SyncStatusChanged
from timeline_api.bootstrap import Services
from timeline_api.domain.replay import ReplayRequested
from timeline_api.domain.thread_merges import ProjectedMail

GROUP = groups.TIMELINE


def subscribe_projection(runtime: Runtime, services: Services) -> None:
    """Subscribe the projection's handlers and the read model's own consumers."""
    projection, topics = services.projection, runtime.topics
    routes: tuple[tuple[str, str, Any, Any, ManyHandler | None], ...] = (
        (
            topics.timeline_messages,
            "messages",
            ProjectedMail,
            services.mail.one,
            services.mail.mail,
        ),
        (topics.timeline_events, "events", TimelineCalendarItem, projection.event, None),
        (topics.records, "records", RecordEvent, projection.record, None),
        (topics.dropped, "dropped", ItemDropped, projection.dropped, projection.drops),
        (topics.sync_status, "status", SyncStatusChanged, projection.status, None),
        (topics.config, "config", ConfigEvent, projection.config, None),
        (
            topics.lookup_results,
            "lookups",
            MessageLookupAnswered,
            services.lookup_answers.record,
            services.lookup_answers.record_all,
        ),
        (
            topics.dead_letter,
            "deadletters",
            DeadLetter,
            services.dead_letter_projection.record,
            services.dead_letter_projection.record_all,
        ),
    )
    for topic, name, contract, handler, many in routes:
        runtime.consume(topic, groups.timeline(name), contract, handler, many=many)
    # A job runs a slice of bounded time per request, one at a time (docs/adr/0022).
    runtime.consume(
        topics.replay_jobs,
        groups.TIMELINE_REPLAY,
        ReplayRequested,
        services.replays.run,
        batch=False,
    )
    services.read_model.subscribe(runtime)
