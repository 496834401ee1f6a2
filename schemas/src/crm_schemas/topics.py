"""Topic names, in one place.

Every name carries a prefix (``crm`` in production) so that tests and side-by-side stacks
can run on one broker without seeing each other's traffic.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    """The names of every topic of the system, under one prefix."""

    prefix: str = "crm"

    @property
    def config(self) -> str:
        """Workspaces and connected accounts, keyed by their id: the newest event of an id
        is its current version (compacted, docs/adr/0005, 0021)."""
        return f"{self.prefix}.config.v1"

    @property
    def sync_requests(self) -> str:
        """Sync jobs, keyed by account id: the fetcher's work queue."""
        return f"{self.prefix}.sync.requests.v1"

    @property
    def sync_status(self) -> str:
        """Per-account sync progress and failures, keyed by account id."""
        return f"{self.prefix}.sync.status.v1"

    @property
    def mail_raw(self) -> str:
        """Messages as fetched, keyed by copy (``ids.copy_key``: item id and account);
        compacted, so a replay finds the newest version of every copy (docs/adr/0021)."""
        return f"{self.prefix}.mail.raw.v1"

    @property
    def calendar_raw(self) -> str:
        """Calendar events as fetched, and their removals, keyed by copy (``ids.copy_key``:
        item id and account); compacted, so a replay finds the newest version, or the
        removal, of every copy (docs/adr/0021)."""
        return f"{self.prefix}.calendar.raw.v1"

    @property
    def mail_replay(self) -> str:
        """Records of mail.raw copied unchanged (same key, same value) by a replay job, for
        the matcher to process again under the current settings in consumer groups of its
        own; ordinary retention (docs/adr/0022)."""
        return f"{self.prefix}.mail.replay.v1"

    @property
    def calendar_replay(self) -> str:
        """Records of calendar.raw copied unchanged by a replay job (as ``mail_replay``)."""
        return f"{self.prefix}.calendar.replay.v1"

    @property
    def replay_jobs(self) -> str:
        """The timeline API's own: replay jobs to run, keyed by job id, so one consumer runs
        each job, at least once (docs/adr/0022). Its events are the service's."""
        return f"{self.prefix}.replay.jobs.v1"

    @property
    def mail_matched(self) -> str:
        """Messages that may be shared, with their participants linked where known; keyed by
        item id. Also copies withdrawn (the matcher now drops them, ``RawMessageRemoved``)
        and threads the matcher joined (``ThreadsMerged``)."""
        return f"{self.prefix}.mail.matched.v1"

    @property
    def calendar_matched(self) -> str:
        """Calendar events that may be shared, with their participants linked where known,
        and removals passed on; keyed by item id."""
        return f"{self.prefix}.calendar.matched.v1"

    @property
    def dropped(self) -> str:
        """Items that were not synced, each with its reason, keyed by item id."""
        return f"{self.prefix}.dropped.v1"

    @property
    def records(self) -> str:
        """People, companies and opportunities as they are created or changed, keyed by
        record id: people and companies by their one writer, the enricher (the records API
        asks it, ``record_commands``), opportunities by the records API."""
        return f"{self.prefix}.records.v1"

    @property
    def record_commands(self) -> str:
        """What is asked of the records' one writer (the enricher): people seen on mail and
        meetings, and the records API's changes; keyed by workspace id, so one consumer
        applies a workspace's commands in order (docs/adr/0029)."""
        return f"{self.prefix}.records.commands.v1"

    @property
    def record_outcomes(self) -> str:
        """The records' writer's answers to the records API's commands, keyed by command id;
        every API replica reads them all and keeps its own."""
        return f"{self.prefix}.records.outcomes.v1"

    @property
    def timeline_messages(self) -> str:
        """Messages ready for the timelines, and copies withdrawn, keyed by thread id, so one
        consumer owns a thread (docs/adr/0007); and threads joined, keyed by the thread that
        goes (docs/adr/0027)."""
        return f"{self.prefix}.timeline.messages.v1"

    @property
    def timeline_events(self) -> str:
        """Meetings ready for the timelines, and their removals, keyed by item id."""
        return f"{self.prefix}.timeline.events.v1"

    @property
    def timeline_index(self) -> str:
        """The timeline API's own (its heads read model): a thread's last activity per
        index key, keyed by that key, so one consumer writes each head of the timeline index
        (docs/adr/0010). Its events are the service's, not shared contracts."""
        return f"{self.prefix}.timeline.index.v1"

    @property
    def timeline_rosters(self) -> str:
        """The timeline API's own (its heads read model): the people of each company with
        their addresses, keyed by company id, so one consumer writes each company's roster
        (docs/adr/0014). Its events are the service's, not shared contracts."""
        return f"{self.prefix}.timeline.rosters.v1"

    @property
    def lookup_requests(self) -> str:
        """Searches of one account's mailbox for a message, keyed by account id: the
        fetcher answers them ("why isn't this email here?")."""
        return f"{self.prefix}.lookups.requests.v1"

    @property
    def lookup_results(self) -> str:
        """Where each account's mailbox has the message, keyed by lookup id."""
        return f"{self.prefix}.lookups.results.v1"

    @property
    def dead_letter(self) -> str:
        """Messages no handler could process, with the error, keyed as on their source."""
        return f"{self.prefix}.deadletter.v1"

    def compacted(self) -> tuple[str, ...]:
        """The topics whose newest record of every key is kept for good (``cleanup.policy=
        compact``): a replay of the raw topics reprocesses history from them, under the
        settings the config topic holds (docs/adr/0021)."""
        return (self.config, self.mail_raw, self.calendar_raw)

    def all(self) -> tuple[str, ...]:
        """Every topic, for creating them up front (the shared contracts of each are in
        ``crm_schemas.catalog``)."""
        return (
            self.config,
            self.sync_requests,
            self.sync_status,
            self.mail_raw,
            self.calendar_raw,
            self.mail_replay,
            self.calendar_replay,
            self.replay_jobs,
            self.mail_matched,
            self.calendar_matched,
            self.dropped,
            self.records,
            self.record_commands,
            self.record_outcomes,
            self.timeline_messages,
            self.timeline_events,
            self.timeline_index,
            self.timeline_rosters,
            self.lookup_requests,
            self.lookup_results,
            self.dead_letter,
        )
