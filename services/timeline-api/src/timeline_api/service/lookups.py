"""Searching a member's mailboxes for a message explain knows nothing of.

``MailboxSearch.start`` keeps a new lookup, one entry per connected mailbox of the member
(a teammate's folders are theirs: only the asking member's own mailboxes are searched),
then asks each through the fetcher (``MessageLookupRequested``, keyed by account id);
the same member asking about the same message within the minute follows that search.
``LookupAnswers`` keeps the fetcher's answers as they come (keyed by lookup id), and
``MailboxSearch.follow`` reads a lookup as it stands: done once every mailbox answered,
or once ``timeout`` passed for those that did not.
"""

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from crm_schemas.base import utcnow
from crm_schemas.lookups import MessageLookupAnswered, MessageLookupRequested
from timeline_api.domain.access import Member
from timeline_api.domain.lookups import (
    MailboxLookup,
    MailboxSearched,
    as_of,
    is_done,
    lookup_id_for,
)
from timeline_api.domain.ownership import NotFoundError
from timeline_api.ports.accounts import Directory
from timeline_api.ports.common import Publish
from timeline_api.ports.timelines import MailboxLookups

POLL_S = 0.1


class MailboxSearch:
    """Start a search of the member's mailboxes, and read it as it stands."""

    def __init__(
        self,
        lookups: MailboxLookups,
        directory: Directory,
        ask: Publish,
        timeout: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._lookups = lookups
        self._directory = directory
        self._ask = ask
        self._timeout = timeout
        self._clock = clock

    async def start(self, member: Member, message_id: str) -> MailboxLookup | None:
        """A new search of the member's connected mailboxes; None when they have none."""
        accounts = [
            a
            for a in await self._directory.workspace_accounts(member.workspace_id)
            if a.owner_member_id == member.member_id and (a.imap or a.oauth)
        ]
        if not accounts:
            return None
        now = self._clock()
        lookup = MailboxLookup(
            lookup_id=lookup_id_for(member.member_id, message_id, now),
            workspace_id=member.workspace_id,
            member_id=member.member_id,
            message_id=message_id,
            started_at=now,
            mailboxes=tuple(
                MailboxSearched(account_id=a.account_id, email=a.email) for a in accounts
            ),
        )
        if not await self._lookups.start(lookup):  # asked this minute already: follow that
            return await self.follow(lookup.lookup_id, member)
        for account in accounts:
            request = MessageLookupRequested(
                lookup_id=lookup.lookup_id,
                workspace_id=member.workspace_id,
                account_id=account.account_id,
                message_id=message_id,
            )
            await self._ask(account.account_id, request)
        return lookup

    async def follow(self, lookup_id: str, member: Member) -> MailboxLookup:
        """The member's search as it stands; NotFoundError for anyone else's."""
        lookup = await self._lookups.lookup(lookup_id)
        if lookup is None or lookup.member_id != member.member_id:
            raise NotFoundError(f"no lookup with id {lookup_id}")
        return as_of(lookup, self._clock(), self._timeout)

    async def wait(self, lookup: MailboxLookup, member: Member, within_s: float) -> MailboxLookup:
        """The search once done, or as it stands after ``within_s`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        current = lookup
        while not is_done(current) and loop.time() < deadline:
            await asyncio.sleep(POLL_S)
            current = await self.follow(lookup.lookup_id, member)
        return current


class LookupAnswers:
    """Keeps the fetcher's answers (the lookup results topic, keyed by lookup id)."""

    def __init__(self, lookups: MailboxLookups) -> None:
        self._lookups = lookups

    async def record_all(self, answers: list[MessageLookupAnswered]) -> None:
        """A poll of answers."""
        await self._lookups.record(answers)

    async def record(self, answer: MessageLookupAnswered) -> None:
        """One answer, when its poll could not be kept at once."""
        await self.record_all([answer])
