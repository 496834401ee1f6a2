"""Consumer group names, in one place.

The services subscribe with these names, and the deployment watches the same groups' lag
to scale them (deploy/k8s: KEDA ScaledObjects; tests/deploy checks that they agree). Each
name is put under the deployment's group prefix (``crm`` in production) by the service's
settings: ``<prefix>.<name>``.
"""

FETCHER = "fetcher"
"""The fetcher workers, on the sync requests: one replica owns each account's jobs."""
FETCHER_LOOKUPS = "fetcher.lookups"
"""The fetcher workers, on the mailbox searches "why isn't this email here?" asks for."""

MATCHER = "matcher"
"""The matcher, on the raw mail and calendar topics."""
MATCHER_RECORDS = "matcher.records"
"""The matcher's own index of addresses, from the records topic."""
MATCHER_REPLAY_MAIL = "matcher.replay.mail"
"""The matcher, on the mail replay topic: its own group, so live mail never waits behind a
replay (docs/adr/0022)."""
MATCHER_REPLAY_CALENDAR = "matcher.replay.calendar"
"""The matcher, on the calendar replay topic (as ``MATCHER_REPLAY_MAIL``)."""

ENRICHER = "enricher"
"""The enricher, on the matched mail and calendar topics."""
ENRICHER_COMMANDS = "enricher.commands"
"""The enricher as the one writer of people and companies, on the record commands."""

TIMELINE = "timeline-api"
"""The timeline's projection: one group per topic under this name (``timeline-api.messages``,
``.events``, ``.records``, ``.dropped``, ``.status``, ``.config``)."""
TIMELINE_INDEX = "timeline-api.index"
"""The timeline index's heads, from the index topic."""
TIMELINE_ROSTERS = "timeline-api.rosters"
"""The company rosters, from the rosters topic."""
TIMELINE_REPLAY = "timeline-api.replay"
"""The replay jobs, from the replay jobs topic: one consumer runs each job (docs/adr/0022)."""


def timeline(topic_name: str) -> str:
    """The projection's group for one of its topics (``messages``, ``events``, ...)."""
    return f"{TIMELINE}.{topic_name}"


def config(service: str) -> str:
    """The group a service (or a process of it: ``fetcher.scheduler``) follows the config
    topic with: every process keeps its own projection of workspaces and accounts."""
    return f"{service}.config"
