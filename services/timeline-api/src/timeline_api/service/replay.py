"""Replay jobs: asked for by the API or crm-admin, run by the one consumer of the jobs
topic that owns the job, followed by their progress (docs/adr/0022).

Asking checks that the raw topics still hold the range (a refusal says why), stores the
job with the config topic's end offsets, and puts it on the jobs topic. Running it:
waits until the matcher and the enricher have read those settings, takes the raw topics'
bounds once (kept with the job, so a resumed job keeps them), copies in slices of
bounded time (each slice's progress saved, then the job put back on the jobs topic to
carry on), then follows the matcher's replay groups until they have processed it all.
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from crm_schemas.base import utcnow
from timeline_api.domain.replay import (
    JobState,
    Progress,
    ReplayJob,
    ReplayKind,
    ReplayRequested,
    ReplayScope,
    missing_history,
    processed,
    settings_read,
    widen,
)
from timeline_api.ports.common import Publish
from timeline_api.ports.operations import ReplayJobs, ReplayLog

WAIT_STEP_S = 0.5
SETTINGS_WAIT_S = 2.0
"""How long a slice waits for the services to read the settings before it carries on in
another slice (so a stopping consumer never waits long for it)."""


class ReplayRefusedError(Exception):
    """The raw topics no longer hold the range asked for; the message says why."""


class Replays:
    """Asks for, runs and follows replay jobs."""

    def __init__(
        self,
        log: ReplayLog,
        jobs: ReplayJobs,
        publish: Publish,
        slice_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._log = log
        self._jobs = jobs
        self._publish = publish
        self._slice_s = slice_s
        self._clock = clock
        self._sleep = sleep

    async def check(self, kinds: tuple[ReplayKind, ...], since: datetime | None) -> None:
        """Refuse (``ReplayRefusedError``) a range a raw topic no longer holds."""
        for kind in kinds:
            topic, policy, starts = await self._log.log_starts(kind)
            reason = missing_history(topic, policy, starts, since)
            if reason is not None:
                raise ReplayRefusedError(reason)

    async def request(
        self,
        scope: ReplayScope,
        kinds: tuple[ReplayKind, ...],
        since: datetime | None,
        requested_by: str,
    ) -> ReplayJob:
        """Check the range, store the job and queue it; the job as stored."""
        await self.check(kinds, since)
        job = ReplayJob(
            job_id=str(uuid.uuid4()),
            scope_workspace_id=scope.workspace_id,
            scope_account_id=scope.account_id,
            kinds=kinds,
            since=since,
            requested_by=requested_by,
            settings_at=await self._log.settings_end(),
        )
        await self._jobs.save(job)
        await self._publish(job.job_id, ReplayRequested(job_id=job.job_id))
        return job

    async def run(self, request: ReplayRequested) -> None:
        """Run a slice of the job: wait for the settings, take the bounds, copy until done
        or the slice is over (then put the job back on the jobs topic). A job already
        copied, or unknown, is left as it is (a redelivery). An error is kept with the job
        for its progress to show, then raised (the request is retried, then
        dead-lettered, and a re-drive resumes the job where it stopped)."""
        job = await self._jobs.job(request.job_id)
        if job is None or job.state in ("processing", "done"):
            return
        try:
            await self._slice(job)
        except Exception as error:
            latest = await self._jobs.job(request.job_id) or job
            await self._jobs.save(latest.model_copy(update={"error": repr(error)[:2000]}))
            raise

    async def _slice(self, job: ReplayJob) -> None:
        until = self._clock() + self._slice_s
        job = await self._settings_read(job, min(until, self._clock() + SETTINGS_WAIT_S))
        if job.state == "waiting":
            await self._carry_on(job)
            return
        if job.bounds is None:
            bounds = {kind: await self._log.bounds(kind, job.since) for kind in job.kinds}
            job = await self._save(job, "copying", bounds=bounds)
        for kind in job.kinds:
            job = await self._copy(job, kind, until)
        if job.copy_finished():
            await self._save(job, "processing", error=None)
        else:
            await self._carry_on(job)

    async def progress(self, job_id: str) -> tuple[ReplayJob, Progress, Progress] | None:
        """The job, records read of its raw ranges, and records of it the matcher has
        processed; a job processed to the end is marked done."""
        job = await self._jobs.job(job_id)
        if job is None:
            return None
        committed = {}
        if job.state == "processing":
            committed = {kind: await self._log.processed(kind) for kind in job.kinds}
        done = processed(job.written, committed) if committed else _processed_so_far(job)
        if job.state == "processing" and done.done >= done.total:
            job = await self._save(job, "done", finished_at=utcnow())
        return job, job.read(), done

    async def _settings_read(self, job: ReplayJob, until: float) -> ReplayJob:
        """The job once the matcher and the enricher have read the settings in force when
        it was asked for (waiting, if not before ``until``)."""
        if job.state not in ("queued", "waiting"):
            return job
        while not settings_read(job.settings_at, await self._log.settings_readers()):
            if self._clock() >= until:
                return job if job.state == "waiting" else await self._save(job, "waiting")
            await self._sleep(WAIT_STEP_S)
        return await self._save(job, "copying")

    async def _copy(self, job: ReplayJob, kind: ReplayKind, until: float) -> ReplayJob:
        """Copy what is left of one raw topic's range, until done or ``until``."""
        bounds = (job.bounds or {}).get(kind, {})
        left = {
            p: (at, end)
            for p, (first, end) in bounds.items()
            if (at := job.next.get(kind, {}).get(p, first)) < end
        }
        if not left or self._clock() >= until:
            return job
        copied = await self._log.copy(kind, left, job.scope, until)
        return await self._save(
            job,
            job.state,
            next=job.next | {kind: job.next.get(kind, {}) | copied.next},
            copied=job.copied + copied.copied,
            written=job.written | {kind: widen(job.written.get(kind, {}), copied.written)},
        )

    async def _carry_on(self, job: ReplayJob) -> None:
        """Put the job back on the jobs topic: the next slice starts where this one ended."""
        await self._publish(job.job_id, ReplayRequested(job_id=job.job_id))

    async def _save(self, job: ReplayJob, state: JobState, **changes: object) -> ReplayJob:
        saved = job.model_copy(update={"state": state, **changes})
        await self._jobs.save(saved)
        return saved


def _processed_so_far(job: ReplayJob) -> Progress:
    """Before processing is followed: none yet, of what was written so far (all of it,
    once done)."""
    total = sum(end - first for spans in job.written.values() for first, end in spans.values())
    return Progress(done=total if job.state == "done" else 0, total=total)
