"""The small interfaces the use cases need; adapters implement them, fakes stand in.

Each area with its ports: the timeline read model (``TimelineReader`` for the
tabs, ``ProjectionStore`` and ``TimelineFeed`` for the projection, ``Conversations`` for
one thread), the records (``RecordReader``, ``RecordStore``, ``RecordOwner``), and
workspaces and accounts (``Directory``, ``SyncStatuses``, ``ConnectionChecker``,
``Consent``), every service's dead letters (``DeadLetters``), provider notifications
(``PushTokens``, ``PushMarks``, ``PushAccounts``), and replays (``ReplayLog``,
``ReplayJobs``). The MongoDB adapters are in ``timeline_api.adapters``, the in-memory
fakes in ``timeline_api.adapters.memory``; one contract test suite runs against both.
"""

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, SecretStr

from crm_schemas.config import AccountConfigured, OAuthProvider, TlsMode, WorkspaceConfigured
from crm_schemas.lookups import MessageLookupAnswered
from crm_schemas.outcomes import ItemDropped
from crm_schemas.record_commands import ApiCommand, RecordOutcome
from crm_schemas.records import CompanyUpserted, OpportunityUpserted, PersonUpserted
from crm_schemas.sync import SyncKind, SyncStatusChanged
from timeline_api.domain.access import Member
from timeline_api.domain.connection import Check
from timeline_api.domain.copies import CopyRemoved
from timeline_api.domain.dead_letters import DeadLetterQuery, ErrorCount, StoredDeadLetter
from timeline_api.domain.lookups import MailboxLookup
from timeline_api.domain.model import StoredEvent, StoredMessage, ThreadSummary
from timeline_api.domain.pagination import Cursor
from timeline_api.domain.replay import LogStart, ReplayJob, ReplayKind, ReplayScope, Span
from timeline_api.domain.scope import Page, PageRequest, RecordScope, Window
from timeline_api.domain.search import Found, NameCursor
from timeline_api.domain.web_session import SignInLink, WebSession

Publish = Callable[[str, BaseModel], Awaitable[None]]
"""Publish one event under its key on a topic the caller bound (config, sync requests,
records)."""
RawPublish = Callable[[str, str | None, bytes], Awaitable[None]]
"""Publish bytes as they are, under a key (or none), on a topic: a dead letter's original
payload, re-driven to the topic it came from."""

# --- the timeline read model ------------------------------------------------------------


class TimelineReader(Protocol):
    """The read side of the timelines: a record's threads and meetings, a page at a time.

    Whatever the read model keeps, a page is the same: newest first (meetings: in the
    window's order), in the scope's workspace only, each row once, keyset-paginated.
    """

    async def threads(self, scope: RecordScope, page: PageRequest) -> Page[ThreadSummary]:
        """The threads with any address or domain of the scope."""
        ...

    async def events(
        self, scope: RecordScope, window: Window, page: PageRequest
    ) -> Page[StoredEvent]:
        """The meetings with any address or domain of the scope, starting in the window."""
        ...


@dataclass(frozen=True, slots=True)
class ThreadChange:
    """A thread summarised again after its messages changed: as it was (None: it was not
    stored) and as it is now (None: it has no message left)."""

    before: ThreadSummary | None
    after: ThreadSummary | None


@dataclass(frozen=True, slots=True)
class AccountRemoval:
    """What disconnecting an account took away: messages and meetings only it had, and
    every thread it touched."""

    messages_deleted: int
    events_deleted: int
    threads: list[ThreadChange]


class ProjectionStore(Protocol):
    """Where the projection keeps messages, threads, meetings and drops; every write an
    idempotent upsert by a deterministic id. Each account's copy of an item is taken, or
    withdrawn, only at a version at least as new as what is known of it (docs/adr/0021)."""

    async def store_messages(self, messages: list[StoredMessage]) -> list[ThreadSummary]:
        """Store each message once, adding its current sources; the summary of each thread
        that changed."""
        ...

    async def remove_messages(self, removals: list[CopyRemoved]) -> list[ThreadChange]:
        """Take each mailbox's copy away from its message (a message no mailbox has left
        goes); every thread that lost one, as it was and as it is now."""
        ...

    async def upsert_event(self, event: StoredEvent) -> None:
        """Store a meeting once, adding its current sources."""
        ...

    async def remove_event_source(self, removed: CopyRemoved) -> None:
        """Take one calendar away from a meeting; the meeting goes when none is left."""
        ...

    async def record_dropped(self, drops: list[ItemDropped]) -> None:
        """Remember why items were not synced, per account each was dropped from."""
        ...

    async def remove_account(self, account_id: str) -> AccountRemoval:
        """Take the account away as a source of everything; what only it had goes."""
        ...


class ThreadMerges(Protocol):
    """Threads that proved to be one (docs/adr/0027): where a merged thread's mail goes
    now, and its messages moved into the thread it merged into."""

    async def redirect_threads(self, redirects: Mapping[str, str]) -> None:
        """From now on, what comes for each thread goes to the one it merged into."""
        ...

    async def thread_redirects(self, thread_ids: Iterable[str]) -> dict[str, str]:
        """The thread each of these merged into, for those that did."""
        ...

    async def absorb_thread(self, into: str, gone: str) -> list[ThreadChange]:
        """Move thread ``gone``'s messages into ``into`` and summarise it again; both
        threads as they were and are (``gone`` has none left). Nothing when ``gone``
        has no message."""
        ...


MailOutbox = Callable[[Sequence[tuple[str, BaseModel]]], Awaitable[None]]
"""Publish events under their keys on timeline.messages, durably, together: the mail of a
merged thread goes on to the thread it merged into, keyed by that thread."""


class TimelineFeed(Protocol):
    """What the read side is told after the projection wrote: a read model that keeps
    structures of its own (heads, rosters) updates them; one that queries the stored
    collections directly has nothing to do."""

    async def threads_changed(self, summaries: Sequence[ThreadSummary]) -> None:
        """These threads were summarised (new messages)."""
        ...

    async def threads_replaced(self, changes: Sequence[ThreadChange]) -> None:
        """These threads were summarised again after losing messages (and maybe links)."""
        ...

    async def people_changed(self, people: Sequence[PersonUpserted]) -> None:
        """These versions of people arrived (stored or not: the records API stores its own
        versions before they come back on the records topic)."""
        ...


class Conversations(Protocol):
    """One conversation, one meeting, and what the read model knows of one message."""

    async def event(self, item_id: str) -> StoredEvent | None:
        """A meeting occurrence, or None."""
        ...

    async def thread(self, thread_id: str) -> ThreadSummary | None:
        """A thread's summary, or None."""
        ...

    async def thread_messages(self, thread_id: str, *, with_body: bool) -> list[StoredMessage]:
        """A thread's messages, oldest first."""
        ...

    async def explain_item(
        self, item_id: str
    ) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
        """A message as stored and its drop record, each None when absent."""
        ...


class MailboxLookups(Protocol):
    """Searches of a member's mailboxes for a message, and the mailboxes' answers."""

    async def start(self, lookup: MailboxLookup) -> bool:
        """Keep a new search, every mailbox of it still searching; False when a search
        with its id is kept already (and is left as it is)."""
        ...

    async def lookup(self, lookup_id: str) -> MailboxLookup | None:
        """A search with the answers in so far, or None."""
        ...

    async def record(self, answers: Sequence[MessageLookupAnswered]) -> None:
        """Keep mailboxes' answers (an answer to no known search is ignored)."""
        ...


class Health(Protocol):
    """Whether the read model's database answers."""

    async def ping(self) -> None:
        """Return when the database answers; raise ``UnavailableError`` when it does not."""
        ...


class UnavailableError(Exception):
    """The database did not answer; the message names what went wrong."""


# --- records ------------------------------------------------------------------------------


class RecordReader(Protocol):
    """People, companies and opportunities as the read model keeps them."""

    async def person(self, person_id: str) -> PersonUpserted | None:
        """A person, or None."""
        ...

    async def company(self, company_id: str) -> CompanyUpserted | None:
        """A company, or None."""
        ...

    async def opportunity(self, opportunity_id: str) -> OpportunityUpserted | None:
        """An opportunity, or None."""
        ...

    async def people_by_email(self, email: str, workspace_id: str) -> list[PersonUpserted]:
        """People with this address among theirs, any case."""
        ...

    async def companies_by_domain(self, domain: str, workspace_id: str) -> list[CompanyUpserted]:
        """Companies with this domain among theirs."""
        ...

    async def existing_records(self, people: list[str], companies: list[str]) -> set[str]:
        """Which of these person and company ids are stored."""
        ...

    async def search_people(
        self, workspace_id: str, query: tuple[str, ...], after: NameCursor | None, limit: int
    ) -> Found[PersonUpserted]:
        """People (merged ones left out) every word of ``query`` finds (``domain.search``),
        by name, a page after the cursor."""
        ...

    async def search_companies(
        self, workspace_id: str, query: tuple[str, ...], after: NameCursor | None, limit: int
    ) -> Found[CompanyUpserted]:
        """Companies every word of ``query`` finds, by name, a page after the cursor."""
        ...

    async def search_opportunities(
        self, workspace_id: str, query: tuple[str, ...], after: NameCursor | None, limit: int
    ) -> Found[OpportunityUpserted]:
        """Opportunities every word of ``query`` finds, by name, a page after the cursor."""
        ...


class RecordStore(RecordReader, Protocol):
    """The records, written only if newer than what is kept."""

    async def upsert_person(self, person: PersonUpserted) -> bool:
        """Keep a person's version, with normalised addresses, if newer; True when kept."""
        ...

    async def upsert_company(self, company: CompanyUpserted) -> bool:
        """Keep a company's version, with lower-cased domains, if newer; True when kept."""
        ...

    async def upsert_opportunity(self, opportunity: OpportunityUpserted) -> bool:
        """Keep an opportunity's version if newer; True when kept."""
        ...


class RecordOwner(Protocol):
    """The one writer of people and companies (the enricher, docs/adr/0029), asked: every
    change the records API makes is a command it applies in order, then answers."""

    async def ask(self, command: ApiCommand) -> RecordOutcome:
        """The writer's answer to the command; ``UnavailableError`` if none comes in time."""
        ...


# --- workspaces and accounts --------------------------------------------------------------


class SyncStatuses(Protocol):
    """Each account's newest sync status per kind."""

    async def record_status(self, status: SyncStatusChanged) -> None:
        """Keep a report unless a newer one is kept already."""
        ...

    async def statuses(self, account_id: str) -> dict[SyncKind, Mapping[str, Any]]:
        """The newest status of each kind the account has reported."""
        ...


class Directory(SyncStatuses, Protocol):
    """Workspaces, members, API keys, connected accounts and their sync status; a change
    of a workspace or an account is stored, then published on the config topic for every
    other service."""

    async def save_workspace(self, event: WorkspaceConfigured) -> None:
        """Store a workspace's new version, then tell every service."""
        ...

    async def workspace(self, workspace_id: str) -> WorkspaceConfigured | None:
        """The workspace, or None."""
        ...

    async def save_member(self, member: Member) -> None:
        """Store a member (the id is deterministic, so this is an upsert)."""
        ...

    async def member(self, member_id: str) -> Member | None:
        """The member, or None."""
        ...

    async def workspace_members(self, workspace_id: str) -> list[Member]:
        """Every member of a workspace, by id."""
        ...

    async def issue_key(self, member: Member, label: str = "") -> str:
        """A new API key for the member: shown now or never (only its digest is kept)."""
        ...

    async def member_for_key(self, key: str) -> Member | None:
        """The member a key belongs to, None for an unknown or revoked key."""
        ...

    async def save_account(self, event: AccountConfigured) -> None:
        """Store an account's new version, then tell every service (the fetcher syncs it)."""
        ...

    async def account(self, account_id: str) -> AccountConfigured | None:
        """The account, or None."""
        ...

    async def all_accounts(self) -> list[AccountConfigured]:
        """Every account of every workspace, disconnected ones included, by id."""
        ...

    async def workspace_accounts(self, workspace_id: str) -> list[AccountConfigured]:
        """Every connected account of a workspace (disconnected ones left out), by id."""
        ...

    async def save_oauth_state(self, state: str, doc: dict[str, Any]) -> None:
        """Remember a consent request until its callback comes back with ``state``."""
        ...

    async def take_oauth_state(self, state: str) -> dict[str, Any] | None:
        """The consent request of ``state``, at most once."""
        ...


class SignIns(Protocol):
    """One-time sign-in links and web sessions, each kept by the digest of its token."""

    async def save_link(self, digest: str, link: SignInLink) -> None:
        """Remember a sign-in link until it is used or expires."""
        ...

    async def take_link(self, digest: str) -> SignInLink | None:
        """The link of this digest, at most once: it is forgotten as it is read."""
        ...

    async def save_session(self, digest: str, session: WebSession) -> None:
        """Keep a session."""
        ...

    async def session(self, digest: str) -> WebSession | None:
        """The session of this digest, or None."""
        ...

    async def end_session(self, digest: str) -> None:
        """Forget a session (signing out, or found expired)."""
        ...


class ConnectionChecker(Protocol):
    """Checks an account's servers before it is stored (nothing is written to them)."""

    async def imap(
        self,
        host: str,
        port: int,
        tls: TlsMode,
        user: str,
        password: SecretStr,
        folders: Sequence[str],
    ) -> Check:
        """Log in over IMAP and check that every chosen folder exists."""
        ...

    async def smtp(
        self, host: str, port: int, tls: TlsMode, user: str, password: SecretStr
    ) -> Check:
        """Log in over SMTP."""
        ...

    async def caldav(self, url: str, user: str, password: SecretStr) -> Check:
        """Discover the principal's calendars over CalDAV."""
        ...

    async def folders(
        self, host: str, port: int, tls: TlsMode, user: str, password: SecretStr
    ) -> list[str]:
        """The folders an IMAP server lists for the login, sorted; ``FoldersUnavailableError``
        with the failed check when it cannot be reached or refuses the login."""
        ...


class FoldersUnavailableError(Exception):
    """The folders could not be listed; ``check`` says why, in words."""

    def __init__(self, check: Check) -> None:
        super().__init__(check.message)
        self.check = check


class ConsentError(Exception):
    """The provider did not give us the account: the message says why, for the user."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What a consent gave: the account's address and id, and the long-lived token."""

    email: str
    subject: str | None
    refresh_token: str
    scopes: tuple[str, ...]


class Consent(Protocol):
    """One provider's OAuth 2 authorization-code flow (synchronous: run off the loop)."""

    provider: OAuthProvider

    def consent(self, state: str, redirect_uri: str) -> tuple[str, dict[str, Any]]:
        """The consent URL, and what to remember until the callback."""
        ...

    def exchange(self, remembered: Mapping[str, Any], query: dict[str, str]) -> Grant:
        """The grant for the callback's query (code and state); ConsentError if refused."""
        ...


# --- dead letters --------------------------------------------------------------------------


class DeadLetters(Protocol):
    """The dead letters of every service, kept by id (source topic, partition, offset)."""

    async def record(self, letters: Sequence[StoredDeadLetter]) -> None:
        """Keep dead letters; one kept already keeps whether it was re-driven."""
        ...

    async def letter(self, letter_id: str) -> StoredDeadLetter | None:
        """One dead letter with its payload, or None."""
        ...

    async def page(
        self, query: DeadLetterQuery, after: Cursor | None, limit: int
    ) -> list[StoredDeadLetter]:
        """Up to ``limit`` dead letters the query asks for, newest first, after the
        cursor (by failure time, then id), without their payloads."""
        ...

    async def counts(self, query: DeadLetterQuery) -> list[ErrorCount]:
        """How many dead letters the query asks for, by source topic and error type."""
        ...

    async def pending(self, query: DeadLetterQuery, limit: int) -> list[StoredDeadLetter]:
        """Up to ``limit`` dead letters the query asks for that were not re-driven yet,
        oldest first, with their payloads."""
        ...

    async def mark_retried(self, letter_ids: Sequence[str], at: datetime, by: str) -> None:
        """Note that these dead letters were re-driven, when and by whom."""
        ...


# --- provider notifications (push) ----------------------------------------------------


class PushTokenError(Exception):
    """A push's bearer token is not a valid token signed by the provider (bad signature,
    expired, unknown key); the message says why, without the token."""


class PushTokens(Protocol):
    """Checks the OIDC tokens Google signs for Pub/Sub push."""

    async def claims(self, token: str) -> Mapping[str, Any]:
        """The claims of a token whose signature (against Google's published keys) and
        expiry hold; raises PushTokenError otherwise."""
        ...


class PushMarks(Protocol):
    """Marks that one replica takes, once, to queue a push sync (shared by replicas)."""

    async def claim(self, key: str, at: datetime) -> bool:
        """Take ``key``: True for the first taker ever, False for everyone after."""
        ...

    async def sweep(self, before: datetime) -> int:
        """Forget marks taken before ``before``; how many."""
        ...


class PushAccounts(Protocol):
    """The connected accounts a notification may be for."""

    async def account(self, account_id: str) -> AccountConfigured | None:
        """The account, or None."""
        ...

    async def accounts_by_email(self, email: str) -> list[AccountConfigured]:
        """The connected accounts of an address (one per workspace that connected it)."""
        ...


# --- replays ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Copied:
    """What a slice of copying did: where reading stands in each partition, how many
    records were the job's (and copied), and the offsets they got on the replay topic."""

    next: dict[int, int]
    copied: int
    written: dict[int, Span]


class ReplayLog(Protocol):
    """The raw topics a replay reads, the replay topics it writes, and the consumer groups
    whose progress it follows (docs/adr/0022)."""

    async def log_starts(self, kind: ReplayKind) -> tuple[str, str, list[LogStart]]:
        """The raw topic's name, its cleanup policy, and where each partition begins now."""
        ...

    async def bounds(self, kind: ReplayKind, since: datetime | None) -> dict[int, Span]:
        """Per partition of the raw topic: from the first offset written at or after
        ``since`` (the beginning, when None) up to the end offset now."""
        ...

    async def settings_end(self) -> dict[int, int]:
        """The config topic's end offsets now."""
        ...

    async def settings_readers(self) -> list[dict[int, int]]:
        """What each group that applies the settings (matcher, enricher) has committed of
        the config topic."""
        ...

    async def copy(
        self, kind: ReplayKind, spans: Mapping[int, Span], scope: ReplayScope, until: float
    ) -> Copied:
        """Copy the records of ``spans`` that ``scope`` selects from the raw topic to the
        replay topic, unchanged and durably, until done or the monotonic time ``until``."""
        ...

    async def processed(self, kind: ReplayKind) -> dict[int, int]:
        """What the matcher's replay group has committed of the replay topic, per
        partition."""
        ...


class ReplayJobs(Protocol):
    """Replay jobs by id: what each replays, its bounds and its progress."""

    async def save(self, job: ReplayJob) -> None:
        """Store the job's current state (by its id)."""
        ...

    async def job(self, job_id: str) -> ReplayJob | None:
        """The job, or None."""
        ...
