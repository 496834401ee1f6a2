"""Telling the owner where an account's sync stands, and queueing its follow-up job."""

from dataclasses import dataclass

from crm_runtime.outages import KAFKA, MONGODB
from crm_schemas.config import AccountConfigured
from crm_schemas.sync import SyncKind, SyncRequested, SyncState, SyncStatusChanged
from crm_schemas.topics import Topics
from fetcher.domain.problems import SyncProblem, explain, explain_failure
from fetcher.ports import Publisher


@dataclass(frozen=True, slots=True)
class StatusReporter:
    """Publishes SyncStatusChanged for one account and kind, keyed by account id."""

    account: AccountConfigured
    kind: SyncKind
    topics: Topics
    publish: Publisher

    async def _send(
        self,
        state: SyncState,
        done: int = 0,
        total: int | None = None,
        reason: str | None = None,
        remedy: str | None = None,
    ) -> None:
        status = SyncStatusChanged(
            account_id=self.account.account_id,
            workspace_id=self.account.workspace_id,
            kind=self.kind,
            state=state,
            done=done,
            total=total,
            reason=reason,
            remedy=remedy,
        )
        await self.publish(self.topics.sync_status, self.account.account_id, status)

    async def importing(self, done: int, total: int | None) -> None:
        """Work remains: ``done`` of ``total`` items are in."""
        await self._send(SyncState.IMPORTING, done=done, total=total)

    async def up_to_date(self, done: int, total: int | None) -> None:
        """Everything there is, is in."""
        await self._send(SyncState.UP_TO_DATE, done=done, total=total)

    async def failing(self, problem: SyncProblem) -> None:
        """The account cannot be read; say why and what the owner can do."""
        explanation = explain(problem)
        await self._send(SyncState.FAILING, reason=explanation.reason, remedy=explanation.remedy)

    async def failing_unexpectedly(self, error: BaseException) -> None:
        """The job stopped on an unexpected error; say so, and that it is retried."""
        explanation = explain_failure(error)
        await self._send(SyncState.FAILING, reason=explanation.reason, remedy=explanation.remedy)

    async def continue_later(self) -> None:
        """Queue the next bounded job for this account, behind whatever is queued."""
        request = SyncRequested(
            account_id=self.account.account_id,
            workspace_id=self.account.workspace_id,
            kind=self.kind,
            reason="continuation",
        )
        await self.publish(self.topics.sync_requests, self.account.account_id, request)


async def report_waiting(
    publish: Publisher, topics: Topics, request: SyncRequested, dependency: str
) -> None:
    """Tell the owner that a sync job waits for a dependency of the CRM itself (not their
    account), and that it resumes by itself; the job's next status replaces this one.
    Nothing is said while Kafka is the one down: nothing could carry it."""
    if dependency == KAFKA:
        return
    what = "its database" if dependency == MONGODB else dependency
    status = SyncStatusChanged(
        account_id=request.account_id,
        workspace_id=request.workspace_id,
        kind=request.kind,
        state=SyncState.FAILING,
        reason=f"Syncing is paused: the CRM cannot reach {what} right now",
        remedy="Nothing to do: syncing resumes by itself when it is back",
    )
    await publish(topics.sync_status, request.account_id, status)
