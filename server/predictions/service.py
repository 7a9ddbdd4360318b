"""The model on every video.

* When a video's features become ready (a features job, ``POST /videos/{id}/features``,
  ``server.cli import-features``) and a version is active, a **predict** job of that version
  runs for it: :func:`queue_for_videos`. One job covers many videos: while a predict job of
  the active version is still queued, new videos are added to it instead of queuing another
  (a job with no ``video_ids`` covers every video already), so a bulk import makes one job.
* Activating a version queues a re-predict job of every video unless its predictions
  already exist for every video with its features: :func:`queue_repredict`.
* :func:`prediction_sources`: which version a video's predictions come from (the videos
  list shows it).

A version's predictions of a video exist when its activation curve row exists (the predict
job writes one per video, segments or not).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from server.jobs import service as jobs
from server.models import (
    ActivationCurve,
    Feature,
    Job,
    JobKind,
    JobStatus,
    ModelVersion,
    Video,
)
from server.predictions.schemas import PredictionSource
from server.storage import Storage

ACTIVE_STATES = (JobStatus.queued, JobStatus.running)


class CheckpointGone(Exception):
    """The version's checkpoint file was removed: it cannot predict new videos."""


def active_version(session: Session) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.is_active.is_(True)).limit(1))


def _extractor(version: ModelVersion) -> str | None:
    value = (version.config or {}).get("extractor")
    return str(value) if value else None


def videos_with_features(
    session: Session, version: ModelVersion, video_ids: Sequence[int] | None = None
) -> set[int]:
    """Live videos that have features of the version's extractor (those it can predict)."""
    q = (
        select(Video.id)
        .join(Feature, Feature.video_id == Video.id)
        .where(Video.deleted_at.is_(None))
    )
    extractor = _extractor(version)
    if extractor is not None:
        q = q.where(Feature.extractor == extractor)
    if video_ids is not None:
        q = q.where(Video.id.in_(list(video_ids)))
    return set(session.scalars(q))


def _queued_job(session: Session, version_id: int) -> Job | None:
    """The newest still-queued predict job of the version, locked (PostgreSQL) so that a
    worker cannot claim it while videos are added to it."""
    return session.scalar(
        select(Job)
        .where(
            Job.kind == JobKind.predict,
            Job.status == JobStatus.queued,
            Job.model_version_id == version_id,
        )
        .order_by(Job.id.desc())
        .limit(1)
        .with_for_update()
    )


def queue_for_videos(
    session: Session, video_ids: Sequence[int], *, max_attempts: int = 3
) -> Job | None:
    """A predict job of the active version for these videos (whose features just became
    ready), or the queued one they were added to. None when no version is active or none of
    the videos has features of its extractor."""
    version = active_version(session)
    if version is None:
        return None
    wanted = videos_with_features(session, version, video_ids)
    if not wanted:
        return None
    job = _queued_job(session, version.id)
    if job is not None:
        covered = (job.params or {}).get("video_ids")
        if covered is None:
            return job  # it predicts every video with features when it runs
        job.params = {**job.params, "video_ids": sorted(set(covered) | wanted)}
        flag_modified(job, "params")
        job.message = f"queued for {len(job.params['video_ids'])} video(s)"
        session.flush()
        return job
    job = jobs.enqueue(
        session,
        JobKind.predict,
        {"model_version_id": version.id, "video_ids": sorted(wanted), "reason": "new features"},
        model_version_id=version.id,
        max_attempts=max_attempts,
    )
    job.message = f"queued for {len(wanted)} video(s)"
    session.flush()
    return job


def missing_predictions(session: Session, version: ModelVersion) -> set[int]:
    """Videos the version could predict (features of its extractor) but has not."""
    done = set(
        session.scalars(
            select(ActivationCurve.video_id).where(ActivationCurve.model_version_id == version.id)
        )
    )
    return videos_with_features(session, version) - done


def queue_repredict(
    session: Session,
    version: ModelVersion,
    *,
    created_by: int | None,
    max_attempts: int = 3,
    storage: Storage | None = None,
) -> tuple[Job | None, int]:
    """On activation: a predict job of every video, unless the version's predictions
    already exist for every video. Returns (the job or None, how many videos lack them).

    With ``storage``: a version whose checkpoint file is gone (checkpoint retention) cannot
    predict; no job is queued and :class:`CheckpointGone` says so."""
    missing = missing_predictions(session, version)
    if not missing:
        return None, 0
    if storage is not None and not (
        version.checkpoint_path and storage.exists(version.checkpoint_path)
    ):
        raise CheckpointGone(
            f"model version {version.id} is active, but {len(missing)} video(s) have no "
            "predictions of it and its checkpoint was removed (checkpoint retention keeps the "
            "active version's and the newest BACKTAL_CHECKPOINT_KEEP_LAST): retrain to "
            "predict them"
        )
    queued = _queued_job(session, version.id)
    if queued is not None and (queued.params or {}).get("video_ids") is None:
        return queued, len(missing)
    job = jobs.enqueue(
        session,
        JobKind.predict,
        {"model_version_id": version.id, "reason": "activated"},
        model_version_id=version.id,
        created_by=created_by,
        max_attempts=max_attempts,
    )
    job.message = f"re-predicting every video ({len(missing)} without predictions of it)"
    session.flush()
    return job, len(missing)


def prediction_sources(session: Session, video_ids: Sequence[int]) -> dict[int, PredictionSource]:
    """Per video: the version whose predictions it shows (the active one when it has
    predicted the video, else the newest that has), and whether a predict job of the active
    version is about to cover it."""
    ids = list(video_ids)
    if not ids:
        return {}
    active = active_version(session)
    versions: dict[int, set[int]] = {vid: set() for vid in ids}
    for vid, mv in session.execute(
        select(ActivationCurve.video_id, ActivationCurve.model_version_id).where(
            ActivationCurve.video_id.in_(ids)
        )
    ):
        versions[int(vid)].add(int(mv))
    pending: set[int] = set()
    if active is not None:
        for params in session.scalars(
            select(Job.params).where(
                Job.kind == JobKind.predict,
                Job.status.in_(ACTIVE_STATES),
                Job.model_version_id == active.id,
            )
        ):
            covered = (params or {}).get("video_ids")
            if covered is None:
                pending |= videos_with_features(session, active, ids)
            else:
                pending |= set(covered) & set(ids)
    out: dict[int, PredictionSource] = {}
    for vid in ids:
        have = versions[vid]
        if active is not None and active.id in have:
            source: int | None = active.id
        else:
            source = max(have) if have else None
        out[vid] = PredictionSource(
            model_version_id=source,
            active=active is not None and source == active.id,
            pending=vid in pending,
        )
    return out
