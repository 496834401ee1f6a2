"""Replay jobs in MongoDB (``ports.operations.ReplayJobs``), one document by job id, replaced whole:
one consumer of the jobs topic runs a job at a time, and a reader of its progress only
ever marks it done."""

from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document
from timeline_api.domain.replay import ReplayJob


class MongoReplayJobs:
    """The ``replay_jobs`` collection."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._jobs = db["replay_jobs"]

    async def save(self, job: ReplayJob) -> None:
        """Store the job's current state."""
        doc = job.model_dump(mode="json") | {"_id": job.job_id}
        await self._jobs.replace_one({"_id": job.job_id}, doc, upsert=True)

    async def job(self, job_id: str) -> ReplayJob | None:
        """The job, or None."""
        doc = await self._jobs.find_one({"_id": job_id})
        return ReplayJob.model_validate(doc) if doc is not None else None
