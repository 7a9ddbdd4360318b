"""Comparison jobs ("Does annotation pay here?"): which trainings, refusals, reading results.

A comparison trains ``weak`` and ``bg-click`` — and ``action-click`` and ``both`` when the
training set has action clicks — on the same videos with the same recipe and seed, plus
``bg-click`` on nested subsets of the background clicks (the learning curve), and measures
each on the validation set. The worker side is ``server/worker/compare_jobs.py``; the result
is the job's ``metrics``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.config import Settings
from server.errors import Conflict, NotFound, Unprocessable
from server.jobs import service as jobs
from server.models import Job, JobKind, JobStatus, User
from server.training.configs import check_request
from server.training.dataset import build_dataset
from server.training.service import check_trainable

SUPERVISIONS = ("weak", "bg-click", "action-click", "both")


def arms_for(summary: dict[str, Any]) -> list[str]:
    """The supervision modes a comparison trains on this training set."""
    if summary.get("action_clicks"):
        return list(SUPERVISIONS)
    return ["weak", "bg-click"]


def check_comparable(summary: dict[str, Any]) -> None:
    """Refuse, with the reason, a comparison that cannot answer (Unprocessable)."""
    check_trainable(summary, "bg-click")
    if not summary.get("validation_videos"):
        without = summary.get("validation_videos_without_segments") or 0
        hint = (
            f" ({without} video{'s are' if without != 1 else ' is'} marked as validation but "
            f"ha{'ve' if without != 1 else 's'} no segments yet: draw or import them)"
            if without
            else ""
        )
        raise Unprocessable(
            "there is no validation set to measure the trainings on: mark videos that have "
            "ground truth (imported, or drawn segments) as validation first, on the annotate "
            f"page or with PATCH /videos/{{id}} {{is_validation: true}}{hint}"
        )


def active_comparison(session: Session) -> Job | None:
    return session.scalar(
        select(Job)
        .where(Job.kind == JobKind.compare, Job.status.in_([JobStatus.queued, JobStatus.running]))
        .order_by(Job.id)
        .limit(1)
    )


def training_params(params: dict[str, Any]) -> dict[str, Any]:
    """A comparison job's parameters as a training job's (without the supervision)."""
    skip = {"click_fractions", "queue", "supervision"}
    return {k: v for k, v in params.items() if k not in skip}


def create_comparison(session: Session, settings: Settings, user: User, body: Any) -> Job:
    running = active_comparison(session)
    if running is not None and not body.queue:
        raise Conflict(
            f"comparison job {running.id} is {running.status.value}; wait for it, cancel it, "
            "or send queue=true to queue this one behind it"
        )
    data = build_dataset(
        session,
        None,
        extractor=body.extractor,
        video_ids=body.include_video_ids,
        load_features=False,
    )
    check_comparable(data.summary)
    params = body.model_dump(exclude={"queue"})
    try:
        check_request({**training_params(params), "supervision": "bg-click"})
    except ValueError as exc:
        raise Unprocessable(f"training options: {exc}") from exc
    params["extractor"] = data.extractor
    params["arms"] = arms_for(data.summary)
    return jobs.enqueue(
        session, JobKind.compare, params, created_by=user.id, max_attempts=settings.job_max_attempts
    )


def get_comparison(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None or job.kind != JobKind.compare:
        raise NotFound(f"there is no comparison job {job_id}")
    return job


def list_comparisons(session: Session, limit: int = 20) -> list[Job]:
    return list(
        session.scalars(
            select(Job).where(Job.kind == JobKind.compare).order_by(Job.id.desc()).limit(limit)
        )
    )
