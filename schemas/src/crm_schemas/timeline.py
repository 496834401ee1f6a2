"""The timeline API's own topic: what its timeline index is fed with (docs/adr/0008)."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from crm_schemas.base import Event


class ThreadIndexed(Event):
    """A thread's last activity under one index key (an address, a host or a company
    domain of the thread). Keyed by ``key`` on ``timeline.index``, so one consumer writes
    each key's head; setting the same value again changes nothing."""

    schema_version: Literal[1] = 1
    key: str = Field(description="<workspace>|a|<address>, |h|<host> or |d|<company domain>.")
    workspace_id: str
    thread_id: str
    last_activity: datetime
