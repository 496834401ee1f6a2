"""Why is this email (not) on the timeline? One message, by its Message-ID, in the asking
member's workspace: synced (with its thread and the records its participants link to),
dropped (the reason and the rule that decided), or never seen.

Every lookup is by ``_id`` (the item id comes from the workspace and the normalised
Message-ID), so the answer is instant on any volume. The API's ``/v1/messages/explain``
and the web app's "Why isn't this email here?" both ask this.

A message never seen may sit in a folder the account does not sync (spam, trash, an
excluded folder): ``explain_or_search`` then asks the member's own mailboxes through the
fetcher (``service.lookups``), waits a few seconds for their answers, and says where the
message is, in words; while they are still searching the answer is ``searching``, to be
followed with ``follow_search``.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from crm_schemas.ids import company_id, message_item_id, normalize_message_id, person_id
from crm_schemas.lookups import MailboxPlace
from timeline_api.domain.access import Member
from timeline_api.domain.lookups import MailboxLookup, MailboxState, in_words, is_done
from timeline_api.ports.records import RecordReader
from timeline_api.ports.timelines import Conversations
from timeline_api.service.lookups import MailboxSearch


class NotAMessageIdError(ValueError):
    """What was given is not a Message-ID."""


class LinkedParticipant(BaseModel):
    """A participant of a synced message and the records it is linked to."""

    email: str
    roles: list[str]
    internal: bool
    person_id: str | None = Field(default=None, description="The person with this address.")
    company_id: str | None = Field(default=None, description="The company of its domain.")


class MailboxView(BaseModel):
    """What one of the member's mailboxes said: where it has the message, if anywhere."""

    account_id: str
    email: str
    state: MailboxState
    places: list[MailboxPlace] = Field(description="Folders (labels) that have it.")
    problem: str | None = None


class SearchView(BaseModel):
    """A search of the member's mailboxes for a message the timeline never saw."""

    lookup_id: str
    state: Literal["searching", "done"]
    answer: str = Field(description="Where the message is, and why it is not synced there.")
    mailboxes: list[MailboxView]

    @classmethod
    def of(cls, lookup: MailboxLookup) -> "SearchView":
        """From the lookup as it stands."""
        mailboxes = [MailboxView.model_validate(m.model_dump()) for m in lookup.mailboxes]
        state: Literal["searching", "done"] = "done" if is_done(lookup) else "searching"
        return cls(
            lookup_id=lookup.lookup_id, state=state, answer=in_words(lookup), mailboxes=mailboxes
        )


class Explanation(BaseModel):
    """What happened to a message: synced, dropped, or never seen (and then, where the
    member's mailboxes have it: ``searching`` until they answered)."""

    status: Literal["synced", "dropped", "never_seen", "searching"]
    message_id: str = Field(description="The Message-ID asked about, normalised.")
    item_id: str
    thread_id: str | None = None
    participants: list[LinkedParticipant] | None = None
    reason: str | None = Field(default=None, description="A DropReason code, e.g. 'internal'.")
    rule: str | None = Field(default=None, description="The rule that dropped it.")
    detail: str | None = None
    dropped_at: datetime | None = None
    accounts: list[str] | None = Field(
        default=None, description="Accounts the message was dropped from."
    )
    search: SearchView | None = Field(
        default=None, description="Never seen: where the member's mailboxes have it."
    )


def message_id_in(text: str) -> str:
    """The Message-ID a person pasted: the value of a ``Message-ID:`` header when they
    pasted a header block (folded lines joined), else the text itself."""
    lines = text.replace("\r\n", "\n").split("\n")
    for i, line in enumerate(lines):
        name, colon, value = line.partition(":")
        if colon and name.strip().lower() == "message-id":
            following = []
            for more in lines[i + 1 :]:
                if not more[:1].isspace():
                    break
                following.append(more.strip())
            return " ".join([value.strip(), *following]).strip()
    return text.strip()


async def explain(
    threads: Conversations, records: RecordReader, workspace_id: str, message_id: str
) -> Explanation:
    """Why a message is, or is not, on the timelines of the workspace."""
    normalized = normalize_message_id(message_id)
    if not normalized or any(c.isspace() for c in normalized):
        raise NotAMessageIdError("not a Message-ID")
    item_id = message_item_id(workspace_id, normalized)
    message, dropped = await threads.explain_item(item_id)
    base: dict[str, Any] = {"message_id": normalized, "item_id": item_id}
    if message is not None and message.get("workspace_id") == workspace_id:
        participants = await _linked(records, workspace_id, message.get("participants") or [])
        return Explanation(
            status="synced",
            thread_id=message.get("thread_id"),
            participants=participants,
            **base,
        )
    if dropped is not None and dropped.get("workspace_id") == workspace_id:
        return Explanation(
            status="dropped",
            reason=dropped.get("reason"),
            rule=dropped.get("rule"),
            detail=dropped.get("detail"),
            dropped_at=dropped.get("dropped_at"),
            accounts=sorted((dropped.get("accounts") or {}).keys()),
            **base,
        )
    return Explanation(status="never_seen", **base)


async def explain_or_search(
    threads: Conversations,
    records: RecordReader,
    search: MailboxSearch,
    viewer: Member,
    message_id: str,
    wait_s: float,
) -> Explanation:
    """``explain``; for a message never seen, where the member's own mailboxes have it
    (waiting up to ``wait_s`` for their answers: ``searching`` when they take longer)."""
    found = await explain(threads, records, viewer.workspace_id, message_id)
    if found.status != "never_seen":
        return found
    lookup = await search.start(viewer, found.message_id)
    if lookup is None:  # no mailbox of the member's to ask
        return found
    return searched(await search.wait(lookup, viewer, wait_s), found.item_id)


async def follow_search(search: MailboxSearch, viewer: Member, lookup_id: str) -> Explanation:
    """A search of the member's mailboxes, as it stands: ``searching``, or ``never_seen``
    with where the mailboxes have the message."""
    lookup = await search.follow(lookup_id, viewer)
    return searched(lookup, message_item_id(viewer.workspace_id, lookup.message_id))


def searched(lookup: MailboxLookup, item_id: str) -> Explanation:
    """The explanation of a message never seen, with the search of the mailboxes."""
    view = SearchView.of(lookup)
    status: Literal["never_seen", "searching"] = (
        "searching" if view.state == "searching" else "never_seen"
    )
    return Explanation(status=status, message_id=lookup.message_id, item_id=item_id, search=view)


async def _linked(
    records: RecordReader, workspace_id: str, participants: list[dict[str, Any]]
) -> list[LinkedParticipant]:
    """Each participant with its person and company, as stored or as auto-created."""
    candidates = []
    for p in participants:
        email = str(p.get("email", ""))
        domain = p.get("company_domain") or email.rpartition("@")[2]
        person = p.get("person_id") or person_id(workspace_id, email)
        company = p.get("company_id") or (company_id(workspace_id, domain) if domain else None)
        candidates.append((p, email, person, company))
    stored = await records.existing_records(
        [c[2] for c in candidates], [c[3] for c in candidates if c[3]]
    )
    return [
        LinkedParticipant(
            email=email,
            roles=list(p.get("roles") or []),
            internal=bool(p.get("internal")),
            person_id=person if person in stored else None,
            company_id=company if company in stored else None,
        )
        for p, email, person, company in candidates
    ]
