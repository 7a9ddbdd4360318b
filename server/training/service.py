"""Training jobs, model versions, predictions and ground truth."""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from server.config import Settings
from server.errors import Conflict, NotFound, Unprocessable
from server.jobs import service as jobs
from server.models import (
    ActionClass,
    ActivationCurve,
    GroundTruthSegment,
    Job,
    JobKind,
    JobStatus,
    ModelVersion,
    Prediction,
    User,
    Video,
)
from server.predictions import service as predictions
from server.storage import Storage
from server.training.configs import check_request
from server.training.dataset import build_dataset
from server.training.schemas import (
    Curves,
    GroundTruthImportResult,
    GroundTruthOut,
    PredictedSegment,
    TrainingRequest,
    VideoPredictions,
)


def active_training_job(session: Session) -> Job | None:
    return session.scalar(
        select(Job)
        .where(Job.kind == JobKind.train, Job.status.in_([JobStatus.queued, JobStatus.running]))
        .order_by(Job.id)
        .limit(1)
    )


def check_trainable(data_summary: dict[str, Any], supervision: str) -> None:
    """Refuse, with the reason, a request whose labels do not exist."""
    if data_summary["extractor"] is None:
        raise Unprocessable("no video has features yet: wait for the feature jobs or import some")
    if not data_summary["classes"]:
        raise Unprocessable("there are no action classes: create them first")
    if data_summary["videos"] == 0:
        if data_summary.get("approved_only"):
            raise Unprocessable(
                "no video with features has approved work with a video-level label (or an "
                "action click): approve submitted work first, or train without approved_only"
            )
        raise Unprocessable(
            "no video with features has a video-level label (or an action click) yet"
        )
    if supervision in ("bg-click", "both") and data_summary["background_clicks"] == 0:
        raise Unprocessable(f"'{supervision}' needs background clicks, and there are none")
    if supervision in ("action-click", "both") and data_summary["action_clicks"] == 0:
        raise Unprocessable(f"'{supervision}' needs action clicks, and there are none")
    if data_summary["videos"] < 2:
        raise Unprocessable("training needs at least 2 labelled videos with features")


def create_training_job(
    session: Session, settings: Settings, user: User, body: TrainingRequest
) -> Job:
    running = active_training_job(session)
    if running is not None and not body.queue:
        raise Conflict(
            f"training job {running.id} is {running.status.value}; "
            "wait for it, cancel it, or send queue=true to queue this one behind it"
        )
    data = build_dataset(
        session,
        None,
        extractor=body.extractor,
        video_ids=body.include_video_ids,
        load_features=False,
        approved_only=body.approved_only,
    )
    check_trainable(data.summary, body.supervision)
    params = body.model_dump(exclude={"queue"})
    try:
        check_request(params)
    except ValueError as exc:
        raise Unprocessable(f"training options: {exc}") from exc
    params["extractor"] = data.extractor
    return jobs.enqueue(
        session, JobKind.train, params, created_by=user.id, max_attempts=settings.job_max_attempts
    )


def list_versions(session: Session) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.id.desc())))


def get_version(session: Session, version_id: int) -> ModelVersion:
    version = session.get(ModelVersion, version_id)
    if version is None:
        raise NotFound(f"model version {version_id} does not exist")
    return version


def activate(
    session: Session,
    version_id: int,
    *,
    user: User | None = None,
    max_attempts: int = 3,
    storage: Storage | None = None,
) -> tuple[ModelVersion, Job | None, int, str | None]:
    """Make the version the active one and queue a re-predict job of every video unless
    its predictions already exist for every video with its features.

    Returns (the version, the predict job or None, how many videos lack its predictions,
    why no job could be queued for them or None).
    """
    version = get_version(session, version_id)
    session.execute(update(ModelVersion).values(is_active=False))
    version.is_active = True
    session.flush()
    try:
        job, missing = predictions.queue_repredict(
            session,
            version,
            created_by=user.id if user else None,
            max_attempts=max_attempts,
            storage=storage,
        )
    except predictions.CheckpointGone as exc:
        return version, None, len(predictions.missing_predictions(session, version)), str(exc)
    return version, job, missing, None


def resolve_version(session: Session, which: str) -> ModelVersion | None:
    """``active`` (None if no version is active) or a version id."""
    if which == "active":
        return session.scalar(select(ModelVersion).where(ModelVersion.is_active.is_(True)))
    if not which.isdigit():
        raise Unprocessable("model_version must be 'active' or a version id")
    return get_version(session, int(which))


def video_predictions(session: Session, video_id: int, which: str) -> VideoPredictions:
    version = resolve_version(session, which)
    if version is None:
        return VideoPredictions(video_id=video_id, model_version_id=None)
    rows = session.execute(
        select(Prediction, ActionClass.name)
        .join(ActionClass, ActionClass.id == Prediction.class_id)
        .where(Prediction.model_version_id == version.id, Prediction.video_id == video_id)
        .order_by(Prediction.start_s)
    )
    curve = session.get(ActivationCurve, (version.id, video_id))
    return VideoPredictions(
        video_id=video_id,
        model_version_id=version.id,
        segments=[
            PredictedSegment(
                id=p.id,
                class_id=p.class_id,
                class_name=n,
                start_s=p.start_s,
                end_s=p.end_s,
                score=p.score,
            )
            for p, n in rows
        ],
        curves=Curves(**curve.data) if curve is not None else Curves(),
    )


def export_predictions(
    session: Session,
    which: str,
    *,
    min_score: float | None = None,
    class_ids: list[int] | None = None,
) -> dict[str, Any]:
    """ActivityNet result JSON of a version (``python -m model.cli eval`` reads it): every
    live video the version predicted (an empty list where it found nothing), its segments
    with ``score >= min_score`` and of ``class_ids`` (None: all)."""
    version = resolve_version(session, which)
    if version is None:
        raise NotFound("no model version is active: activate one or name it (model_version=ID)")
    if min_score is not None and not math.isfinite(min_score):
        raise Unprocessable("min_score must be a finite number (e.g. 0.5)")
    if class_ids is not None:
        known = set(session.scalars(select(ActionClass.id).where(ActionClass.id.in_(class_ids))))
        missing = [c for c in class_ids if c not in known]
        if missing:
            raise NotFound(
                "there is no class with id " + ", ".join(str(c) for c in missing) + " (class_ids)"
            )
    predicted = session.scalars(
        select(Video.name)
        .join(ActivationCurve, ActivationCurve.video_id == Video.id)
        .where(ActivationCurve.model_version_id == version.id, Video.deleted_at.is_(None))
        .order_by(Video.name)
    )
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in predicted}
    q = (
        select(Video.name, ActionClass.name, Prediction.start_s, Prediction.end_s, Prediction.score)
        .join(Video, Video.id == Prediction.video_id)
        .join(ActionClass, ActionClass.id == Prediction.class_id)
        .where(Prediction.model_version_id == version.id, Video.deleted_at.is_(None))
        .order_by(Video.name, Prediction.score.desc(), Prediction.start_s)
    )
    if min_score is not None:
        q = q.where(Prediction.score >= min_score)
    if class_ids is not None:
        q = q.where(Prediction.class_id.in_(class_ids))
    for video, label, start, end, score in session.execute(q):
        results.setdefault(video, []).append(
            {"label": label, "score": score, "segment": [start, end]}
        )
    details = f"BackTAL Studio model version {version.id}"
    if min_score is not None:
        details += f", score >= {min_score:g}"
    if class_ids is not None:
        names = session.scalars(
            select(ActionClass.name).where(ActionClass.id.in_(class_ids)).order_by(ActionClass.id)
        )
        details += ", classes " + ", ".join(names)
    return {
        "version": "VERSION 1.3",
        "results": results,
        "external_data": {"used": False, "details": details},
    }


def ground_truth(session: Session, video_id: int) -> list[GroundTruthOut]:
    rows = session.execute(
        select(GroundTruthSegment, ActionClass.name)
        .join(ActionClass, ActionClass.id == GroundTruthSegment.class_id)
        .where(GroundTruthSegment.video_id == video_id)
        .order_by(GroundTruthSegment.start_s)
    )
    return [
        GroundTruthOut(class_id=g.class_id, class_name=n, start_s=g.start_s, end_s=g.end_s)
        for g, n in rows
    ]


def import_ground_truth(session: Session, data: bytes) -> GroundTruthImportResult:
    """ActivityNet-style GT: replaces the segments of every listed video that exists here."""
    try:
        doc = json.loads(data)
        database = doc["database"]
        if not isinstance(database, dict):
            raise TypeError("'database' must be an object")
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise Unprocessable(
            f"not an ActivityNet ground-truth JSON ({{'database': {{video: ...}}}}): {exc}"
        ) from None
    classes = {c.name: c.id for c in session.scalars(select(ActionClass))}
    videos = {
        v.name: v
        for v in session.scalars(
            select(Video).where(Video.name.in_(list(database)), Video.deleted_at.is_(None))
        )
    }
    rows: list[GroundTruthSegment] = []
    errors: list[str] = []
    for name, record in database.items():
        video = videos.get(name)
        if video is None:
            continue
        for k, ann in enumerate(record.get("annotations", []) if isinstance(record, dict) else []):
            try:
                start, end = (float(x) for x in ann["segment"])
                label = str(ann["label"])
            except (KeyError, TypeError, ValueError):
                errors.append(f"{name} annotation {k}: needs 'segment' [start, end] and 'label'")
                continue
            if label not in classes:
                errors.append(f"{name} annotation {k}: unknown class {label!r}")
            elif not 0 <= start < end:
                errors.append(f"{name} annotation {k}: need 0 <= start < end, got {start}, {end}")
            else:
                rows.append(
                    GroundTruthSegment(
                        video_id=video.id, class_id=classes[label], start_s=start, end_s=end
                    )
                )
    if errors:
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise Unprocessable("nothing was imported: " + "; ".join(errors[:10]) + more)
    if videos:
        session.execute(
            delete(GroundTruthSegment).where(
                GroundTruthSegment.video_id.in_([v.id for v in videos.values()])
            )
        )
    session.add_all(rows)
    session.flush()
    return GroundTruthImportResult(
        videos=len(videos),
        segments=len(rows),
        skipped_videos=sorted(set(database) - set(videos)),
    )
