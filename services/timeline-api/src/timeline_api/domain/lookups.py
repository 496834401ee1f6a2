"""Asking the mailboxes: "why isn't this email here?" for a message the pipeline never
saw (it sits in a folder the account does not sync, or in no mailbox at all).

Explain finds nothing of the message; the API then asks each of the member's connected
mailboxes, through the fetcher (``MessageLookupRequested`` on Kafka), and keeps their
answers by lookup id. This module decides, from what came back, whether the search is
done and what to tell the member, in words.
"""

import uuid
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from crm_schemas.lookups import MailboxPlace, MessageLookupAnswered

MailboxState = Literal["searching", "found", "not_found", "failed", "no_answer"]
_LOOKUPS = uuid.UUID("2b0f6c1e-8d4a-4b7e-9c3f-5a1d2e7b9c40")


class MailboxSearched(BaseModel):
    """One mailbox of a lookup: searching, or its answer."""

    model_config = ConfigDict(frozen=True)

    account_id: str
    email: str
    state: MailboxState = "searching"
    places: tuple[MailboxPlace, ...] = ()
    problem: str | None = None


class MailboxLookup(BaseModel):
    """A search of a member's mailboxes for one message."""

    model_config = ConfigDict(frozen=True)

    lookup_id: str
    workspace_id: str
    member_id: str
    message_id: str
    started_at: datetime
    mailboxes: tuple[MailboxSearched, ...]


def lookup_id_for(member_id: str, message_id: str, at: datetime) -> str:
    """One search per member, message and minute: explain asked again (a reload, a
    client polling explain itself) follows the search already under way instead of
    asking the mailboxes again."""
    minute = at.replace(second=0, microsecond=0).isoformat()
    return uuid.uuid5(_LOOKUPS, f"{member_id}\x1f{message_id}\x1f{minute}").hex


def with_answer(searched: MailboxSearched, answer: MessageLookupAnswered) -> MailboxSearched:
    """A mailbox as its answer left it."""
    return searched.model_copy(
        update={"state": answer.state, "places": answer.places, "problem": answer.problem}
    )


def as_of(lookup: MailboxLookup, now: datetime, timeout: timedelta) -> MailboxLookup:
    """The lookup as it stands at ``now``: a mailbox still searching after ``timeout``
    did not answer (the fetcher is down, or the mailbox hangs)."""
    if now - lookup.started_at < timeout:
        return lookup
    late = tuple(
        m.model_copy(update={"state": "no_answer"}) if m.state == "searching" else m
        for m in lookup.mailboxes
    )
    return lookup.model_copy(update={"mailboxes": late})


def is_done(lookup: MailboxLookup) -> bool:
    """Whether every mailbox answered (or gave up)."""
    return all(m.state != "searching" for m in lookup.mailboxes)


_WHY_NOT = {
    "excluded": "its owner excluded that folder",
    "junk_trash_drafts": "spam, trash and drafts are never synced",
    "not_included": "only the inbox, sent mail and the folders its owner includes are synced",
    "category": "Gmail's category tabs are synced only when included",
}


def _place(mailbox: MailboxSearched, place: MailboxPlace) -> str:
    where = f"in {place.folder} of {mailbox.email}"
    if place.synced:
        return (
            f"{where}, which this account syncs: it has not reached the timeline yet"
            " (it may be on its way; the next sync brings it)"
        )
    why = _WHY_NOT.get(place.not_synced_because or "", "")
    return f"{where}, which this account does not sync" + (f" ({why})" if why else "")


def in_words(lookup: MailboxLookup) -> str:
    """What the search found, for the member: where the message is and why it is not
    synced there, or that no connected mailbox has it."""
    if all(m.state == "not_found" for m in lookup.mailboxes):
        return "It is not in any connected mailbox."
    places = [_place(m, p) for m in lookup.mailboxes for p in m.places]
    sentences = [f"It is {'; and '.join(places)}."] if places else []
    absent = [m.email for m in lookup.mailboxes if m.state == "not_found"]
    if absent:
        sentences.append(f"It is not in {', '.join(absent)}.")
    for mailbox in lookup.mailboxes:
        if mailbox.state == "failed":
            sentences.append(f"{mailbox.email} could not be searched: {mailbox.problem}.")
        elif mailbox.state == "no_answer":
            sentences.append(f"{mailbox.email} did not answer in time.")
        elif mailbox.state == "searching":
            sentences.append(f"{mailbox.email} is still being searched.")
    return " ".join(sentences)
