"""The Emails and Calendar tabs: whose timeline a request names, then its page.

A person, a company or an opportunity of the caller's workspace becomes a
``RecordScope`` (another workspace's ids answer "no such record", like ids that do not
exist); the read model answers the scope's page, however it keeps its data.
"""

import asyncio

from timeline_api.domain.model import StoredEvent, ThreadSummary
from timeline_api.domain.ownership import NotFoundError
from timeline_api.domain.scope import Page, PageRequest, RecordScope, Window
from timeline_api.ports.records import RecordReader
from timeline_api.ports.timelines import TimelineReader

MAX_MERGE_HOPS = 5
"""How many merges an opportunity's person is followed through to the survivor."""


class TimelineQueries:
    """Pages of a record's threads and meetings, as the read model has them."""

    def __init__(self, records: RecordReader, reader: TimelineReader) -> None:
        self._records = records
        self._reader = reader

    async def threads(self, scope: RecordScope, page: PageRequest) -> Page[ThreadSummary]:
        """The scope's threads, newest first."""
        return await self._reader.threads(scope, page)

    async def events(
        self, scope: RecordScope, window: Window, page: PageRequest
    ) -> Page[StoredEvent]:
        """The scope's meetings in the window."""
        return await self._reader.events(scope, window, page)

    async def person(self, person_id: str, workspace_id: str) -> RecordScope:
        """A person's timeline: threads and meetings with any of their addresses."""
        person = await self._records.person(person_id)
        if person is None or person.workspace_id != workspace_id:
            raise NotFoundError(f"no person with id {person_id}")
        return RecordScope.person(person.workspace_id, person.emails)

    async def company(self, company_id: str, workspace_id: str) -> RecordScope:
        """A company's timeline: its domains, and every address of its people."""
        company = await self._records.company(company_id)
        if company is None or company.workspace_id != workspace_id:
            raise NotFoundError(f"no company with id {company_id}")
        return RecordScope.of_company(company.workspace_id, company.company_id, company.domains)

    async def opportunity(self, opportunity_id: str, workspace_id: str) -> RecordScope:
        """An opportunity's timeline: its company's, and that of every person attached."""
        record = await self._records.opportunity(opportunity_id)
        if record is None or record.workspace_id != workspace_id:
            raise NotFoundError(f"no opportunity with id {opportunity_id}")
        people = await asyncio.gather(*(self._emails(p) for p in record.person_ids))
        emails = list(dict.fromkeys(e for found in people for e in found))
        company = await self._records.company(record.company_id) if record.company_id else None
        if company is None:
            return RecordScope.person(record.workspace_id, emails)
        return RecordScope.of_company(
            record.workspace_id, company.company_id, company.domains, emails
        )

    async def _emails(self, person_id: str) -> tuple[str, ...]:
        """A person's addresses, following merges to the survivor."""
        for _ in range(MAX_MERGE_HOPS):
            person = await self._records.person(person_id)
            if person is None:
                return ()
            if not person.merged_into:
                return person.emails
            person_id = person.merged_into
        return ()
