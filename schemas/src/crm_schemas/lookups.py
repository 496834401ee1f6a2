"""Asking an account's mailbox where a message is: "why isn't this email here?" for mail
that was never fetched (an excluded folder, spam, trash).

The timeline API cannot talk to mailboxes (the fetcher does), so it asks over Kafka: a
``MessageLookupRequested`` keyed by account id goes to the fetcher, which searches every
folder of the mailbox, excluded ones included (IMAP ``UID SEARCH HEADER Message-ID``,
Gmail ``rfc822msgid:``, Graph ``internetMessageId``), and answers with a
``MessageLookupAnswered`` keyed by the lookup id.
"""

from datetime import datetime
from typing import Literal

from pydantic import Field

from crm_schemas.base import Event, utcnow
from crm_schemas.mail import FolderRole


class MessageLookupRequested(Event):
    """Search one account's mailbox for a message, in every folder."""

    schema_version: Literal[1] = 1
    lookup_id: str
    workspace_id: str
    account_id: str
    message_id: str = Field(description="Normalised RFC 5322 Message-ID (no angle brackets).")
    requested_at: datetime = Field(default_factory=utcnow)


NotSyncedBecause = Literal["excluded", "junk_trash_drafts", "not_included", "category"]
"""Why a folder is not synced: its owner excluded it; spam, trash and drafts are never
synced unless included; a folder other than inbox and sent is synced only when included;
a Gmail category tab (promotions, social, ...) only when included."""


class MailboxPlace(Event):
    """One folder (a Gmail label) the message is in, and whether the account syncs it."""

    folder: str
    folder_role: FolderRole
    synced: bool
    not_synced_because: NotSyncedBecause | None = None


class MessageLookupAnswered(Event):
    """Where one account's mailbox has the message: ``found`` (in ``places``),
    ``not_found``, or ``failed`` (the mailbox could not be searched: ``problem`` says
    why, in the user's words)."""

    schema_version: Literal[1] = 1
    lookup_id: str
    workspace_id: str
    account_id: str
    message_id: str
    state: Literal["found", "not_found", "failed"]
    places: tuple[MailboxPlace, ...] = ()
    problem: str | None = None
    answered_at: datetime = Field(default_factory=utcnow)
