"""Jobs are rows: enqueue, claim, heartbeat, finish, cancel, and recover stale ones.

Claiming is one short transaction. On PostgreSQL it takes the oldest queued row with
``SELECT … FOR UPDATE SKIP LOCKED`` so many workers (on many machines) never claim the same
job; on SQLite every transaction here starts with ``BEGIN IMMEDIATE`` (see ``server.db``),
which makes the claim a single-writer transaction with the same effect.

Every state change after the claim is conditional on ``status = running AND worker_id =
me``: a worker that lost its job to the stale-job rule (its heartbeat stopped) can no
longer write to it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.errors import Conflict, NotFound
from server.models import Job, JobKind, JobStatus, utcnow

LOG_TAIL_CHARS = 4000
FINISHED = (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


def enqueue(
    session: Session,
    kind: JobKind,
    params: dict[str, Any] | None = None,
    *,
    video_id: int | None = None,
    model_version_id: int | None = None,
    created_by: int | None = None,
    max_attempts: int = 3,
) -> Job:
    job = Job(
        kind=kind,
        status=JobStatus.queued,
        params=params or {},
        video_id=video_id,
        model_version_id=model_version_id,
        created_by=created_by,
        max_attempts=max_attempts,
        log_tail="",
        progress=0.0,
        attempts=0,
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"job {job_id} does not exist")
    return job


def list_jobs(
    session: Session,
    *,
    kind: JobKind | None = None,
    status: JobStatus | None = None,
    video_id: int | None = None,
    limit: int = 100,
) -> list[Job]:
    q = select(Job).order_by(Job.id.desc()).limit(limit)
    if kind is not None:
        q = q.where(Job.kind == kind)
    if status is not None:
        q = q.where(Job.status == status)
    if video_id is not None:
        q = q.where(Job.video_id == video_id)
    return list(session.scalars(q))


def claim_next(session: Session, worker_id: str, kinds: list[JobKind] | None = None) -> Job | None:
    """Mark the oldest queued job as running by ``worker_id`` and return it (or None)."""
    q = (
        select(Job)
        .where(Job.status == JobStatus.queued)
        .order_by(Job.created_at, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if kinds:
        q = q.where(Job.kind.in_(kinds))
    job = session.scalar(q)
    if job is None:
        return None
    now = utcnow()
    job.status = JobStatus.running
    job.worker_id = worker_id
    job.attempts += 1
    job.started_at = now
    job.heartbeat_at = now
    job.error = None
    job.message = f"attempt {job.attempts} started by {worker_id}"
    session.flush()
    return job


def _mine(job_id: int, worker_id: str) -> Any:
    return (Job.id == job_id) & (Job.status == JobStatus.running) & (Job.worker_id == worker_id)


def heartbeat(
    session: Session,
    job_id: int,
    worker_id: str,
    *,
    progress: float | None = None,
    message: str | None = None,
    log_line: str | None = None,
    metrics: dict[str, Any] | None = None,
) -> tuple[bool, bool]:
    """Refresh the heartbeat (and progress). Returns ``(still_mine, cancel_requested)``."""
    job = session.scalar(select(Job).where(_mine(job_id, worker_id)))
    if job is None:
        return False, False
    job.heartbeat_at = utcnow()
    if progress is not None:
        job.progress = max(0.0, min(1.0, float(progress)))
    if message is not None:
        job.message = message[:2000]
    if log_line:
        job.log_tail = (job.log_tail + log_line.rstrip("\n") + "\n")[-LOG_TAIL_CHARS:]
    if metrics is not None:
        job.metrics = metrics
    session.flush()
    return True, job.cancel_requested


def finish(
    session: Session,
    job_id: int,
    worker_id: str,
    status: JobStatus,
    *,
    message: str | None = None,
    error: str | None = None,
) -> bool:
    """Move a running job of this worker to a final status. False if it was not ours."""
    values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "heartbeat_at": utcnow()}
    if status == JobStatus.succeeded:
        values["progress"] = 1.0
    if message is not None:
        values["message"] = message[:2000]
    if error is not None:
        values["error"] = error[:4000]
    result = session.execute(update(Job).where(_mine(job_id, worker_id)).values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def retry_or_fail(session: Session, job_id: int, worker_id: str, error: str) -> JobStatus | None:
    """After a failed attempt: queue again if attempts remain, else fail for good."""
    job = session.scalar(select(Job).where(_mine(job_id, worker_id)))
    if job is None:
        return None
    if job.attempts < job.max_attempts and not job.cancel_requested:
        job.status = JobStatus.queued
        job.worker_id = None
        job.message = f"attempt {job.attempts} failed; queued again: {error}"[:2000]
        job.error = error[:4000]
    else:
        job.status = JobStatus.failed
        job.finished_at = utcnow()
        job.error = error[:4000]
        job.message = f"failed after {job.attempts} attempt(s): {error}"[:2000]
    session.flush()
    return job.status


def hand_back(session: Session, job_id: int, worker_id: str) -> bool:
    """A stopping worker gives its running job back to the queue at once (no wait for the
    stale-heartbeat rule). The attempt is not counted: nothing failed. False if the job
    was not this worker's any more."""
    job = session.scalar(select(Job).where(_mine(job_id, worker_id)))
    if job is None:
        return False
    job.status = JobStatus.queued
    job.worker_id = None
    job.attempts = max(0, job.attempts - 1)
    job.progress = 0.0
    job.message = f"queued again: worker {worker_id} stopped and handed the job back"[:2000]
    session.flush()
    return True


def recover_stale(session: Session, stale_after_s: float, now: datetime | None = None) -> list[Job]:
    """Re-queue (or fail, when out of attempts) running jobs whose heartbeat stopped."""
    cutoff = (now or utcnow()) - timedelta(seconds=stale_after_s)
    stale = list(
        session.scalars(
            select(Job)
            .where(Job.status == JobStatus.running, Job.heartbeat_at < cutoff)
            .with_for_update(skip_locked=True)
        )
    )
    for job in stale:
        who = job.worker_id or "an unknown worker"
        reason = f"worker {who} stopped responding (no heartbeat for {stale_after_s:g} s)"
        if job.cancel_requested:
            job.status = JobStatus.cancelled
            job.finished_at = utcnow()
            job.message = f"cancelled ({reason})"
        elif job.attempts < job.max_attempts:
            job.status = JobStatus.queued
            job.message = f"queued again: {reason}"
        else:
            job.status = JobStatus.failed
            job.finished_at = utcnow()
            job.error = reason
            job.message = f"failed after {job.attempts} attempt(s): {reason}"
        job.worker_id = None
    session.flush()
    return stale


def request_cancel(session: Session, job_id: int) -> Job:
    """Queued jobs are cancelled at once; running ones when their worker next looks."""
    job = get_job(session, job_id)
    if job.status in FINISHED:
        raise Conflict(f"job {job_id} already finished ({job.status.value})")
    if job.status == JobStatus.queued:
        job.status = JobStatus.cancelled
        job.finished_at = utcnow()
        job.message = "cancelled before it started"
    else:
        job.cancel_requested = True
        job.message = "cancel requested"
    session.flush()
    return job
