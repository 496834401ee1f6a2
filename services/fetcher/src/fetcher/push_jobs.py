"""What push changes in a sync job: the account's subscriptions are kept first, their
state rides on the job's status reports, and a push request that a job started after it
already covered is skipped (a flood of notifications costs one job, not one each)."""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel

from crm_schemas.base import utcnow
from crm_schemas.config import AccountConfigured
from crm_schemas.sync import PushState, SyncKind, SyncRequested, SyncStatusChanged
from fetcher.domain.push import covered
from fetcher.ports import Outgoing, Publisher
from fetcher.push import PushKeeper
from fetcher.sync_oauth import OAuthMailPorts
from fetcher.sync_oauth_calendar import OAuthCalendarPorts

CLOCK_MARGIN = timedelta(seconds=2)


@dataclass(frozen=True, slots=True)
class WithPushState:
    """A Publisher that adds the account's push state to the status reports it passes."""

    inner: Publisher
    push: PushState

    def _stamped(self, event: BaseModel) -> BaseModel:
        if isinstance(event, SyncStatusChanged):
            return event.model_copy(update={"push": self.push})
        return event

    async def __call__(self, topic: str, key: str, event: BaseModel) -> None:
        """One event, a status report stamped."""
        await self.inner(topic, key, self._stamped(event))

    async def many(self, outgoing: Sequence[Outgoing]) -> None:
        """Every event of a batch, status reports stamped."""
        await self.inner.many([(t, k, self._stamped(e)) for t, k, e in outgoing])


Ports = TypeVar("Ports", OAuthMailPorts, OAuthCalendarPorts)


@dataclass
class JobPush:
    """Push around the sync jobs of this replica (it owns their accounts' partitions)."""

    keeper: PushKeeper
    _started: dict[tuple[str, SyncKind], datetime] = field(default_factory=dict)

    def covered(self, request: SyncRequested) -> bool:
        """A push request a job of this replica already covered (never a resubscribe)."""
        if request.reason != "push" or request.resubscribe:
            return False
        last = self._started.get((request.account_id, request.kind))
        return covered(request.requested_at, last, CLOCK_MARGIN)

    async def prepare(self, account: AccountConfigured, request: SyncRequested) -> PushState | None:
        """Keep the subscriptions, then note that a job of this account and kind starts."""
        state = await self.keeper.keep(account, request.kind, request.resubscribe)
        self._started[(account.account_id, request.kind)] = utcnow()
        return state

    @staticmethod
    def stamped(ports: Ports, state: PushState | None) -> Ports:
        """The job's ports, its status reports carrying ``state``."""
        if state is None:
            return ports
        return replace(ports, publish=WithPushState(ports.publish, state))
