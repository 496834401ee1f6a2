"""The events the heads read model sends to itself: what its timeline index and company
rosters are fed with (docs/adr/0010, 0014).

They travel on ``crm.timeline.index.v1`` and ``crm.timeline.rosters.v1`` (the names stay
in ``crm_schemas.Topics`` so every deployment creates the topics), but no other service
reads them, so they are this service's, not the shared contracts'.
"""

from datetime import datetime
from typing import Literal

from pydantic import Field

from crm_schemas.base import Event


class ThreadIndexed(Event):
    """A thread's last activity under one index key (an address, a host or a company
    domain of the thread), or its leaving that key (``gone``: it lost the messages that
    had it, or every message). Keyed by ``key`` on ``timeline.index``, so one consumer
    writes each key's head; setting the same value again changes nothing."""

    schema_version: Literal[1] = 1
    key: str = Field(description="<workspace>|a|<address>, |h|<host> or |d|<company domain>.")
    workspace_id: str
    thread_id: str
    last_activity: datetime
    row: str | None = Field(
        default=None,
        description="The thread's row as stored at that activity (JSON), kept by the head "
        "for its newest threads; none: a head keeps no row of the thread (it lost this "
        "key, or the event predates rows).",
    )
    gone: bool = Field(
        default=False, description="The thread is no longer under this key: its entry goes."
    )


class RosterEntry(Event):
    """A person's addresses on a company's roster, or their leaving it (no addresses): a
    person who moved to another company, or was merged into another person. Keyed by
    ``company_id`` on ``timeline.rosters``, so one consumer writes each roster; of a
    person's entries the one with the newest ``version`` (the person's) holds."""

    schema_version: Literal[1] = 1
    workspace_id: str
    company_id: str
    person_id: str
    emails: tuple[str, ...] = Field(description="Empty: the person is not on the roster.")
    version: datetime = Field(description="The ``updated_at`` of the person's record.")
