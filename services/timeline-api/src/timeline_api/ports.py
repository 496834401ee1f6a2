"""The small interfaces the use cases need; adapters implement them, fakes stand in.

Three areas, each with its ports: the timeline read model (``TimelineReader`` for the
tabs, ``ProjectionStore`` and ``TimelineFeed`` for the projection, ``Conversations`` for
one thread), the records (``RecordReader``, ``RecordStore``, ``AddressOwners``), and
workspaces and accounts (``Directory``, ``SyncStatuses``, ``ConnectionChecker``,
``Consent``), and provider notifications (``PushTokens``, ``PushMarks``, ``PushAccounts``). The
MongoDB adapters are in ``timeline_api.adapters``, the in-memory fakes in
``timeline_api.adapters.memory``; one contract test suite runs against both.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, SecretStr

from crm_schemas.config import AccountConfigured, OAuthProvider, TlsMode, WorkspaceConfigured
from crm_schemas.outcomes import ItemDropped
from crm_schemas.records import CompanyUpserted, OpportunityUpserted, PersonUpserted
from crm_schemas.sync import SyncKind, SyncStatusChanged
from timeline_api.domain.access import Member
from timeline_api.domain.connection import Check
from timeline_api.domain.model import StoredEvent, StoredMessage, ThreadSummary
from timeline_api.domain.ownership import Claim
from timeline_api.domain.scope import Page, PageRequest, RecordScope, Window

Publish = Callable[[str, BaseModel], Awaitable[None]]
"""Publish one event under its key on a topic the caller bound (config, sync requests,
records)."""

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
    idempotent upsert by a deterministic id."""

    async def store_messages(self, messages: list[StoredMessage]) -> list[ThreadSummary]:
        """Store each message once, adding its sources; the summary of each thread touched."""
        ...

    async def upsert_event(self, event: StoredEvent) -> None:
        """Store a meeting once, adding its sources."""
        ...

    async def remove_event_source(self, item_id: str, account_id: str) -> None:
        """Take one calendar away from a meeting; the meeting goes when none is left."""
        ...

    async def record_dropped(self, drops: list[ItemDropped]) -> None:
        """Remember why items were not synced, per account each was dropped from."""
        ...

    async def remove_account(self, account_id: str) -> AccountRemoval:
        """Take the account away as a source of everything; what only it had goes."""
        ...


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
    """One conversation, and what the read model knows of one message."""

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


class AddressOwners(Protocol):
    """Which person owns each address and which company each domain, per workspace."""

    async def claims(self, kind: str, workspace_id: str, values: tuple[str, ...]) -> list[Claim]:
        """Who owns each value now (``kind`` is ``person`` or ``company``)."""
        ...

    async def point(
        self, kind: str, workspace_id: str, values: tuple[str, ...], record_id: str, *, take: bool
    ) -> None:
        """Point values at a record: always (``take``), or only those nobody owns yet."""
        ...

    async def release(self, kind: str, workspace_id: str, values: set[str], record_id: str) -> None:
        """Forget the values a record gave up, unless they point elsewhere already."""
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

    async def workspace_accounts(self, workspace_id: str) -> list[AccountConfigured]:
        """Every connected account of a workspace (disconnected ones left out), by id."""
        ...

    async def save_oauth_state(self, state: str, doc: dict[str, Any]) -> None:
        """Remember a consent request until its callback comes back with ``state``."""
        ...

    async def take_oauth_state(self, state: str) -> dict[str, Any] | None:
        """The consent request of ``state``, at most once."""
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
