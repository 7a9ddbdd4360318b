"""Segments: an annotator's temporal labels (start, end, class) of a video.

Drawn by the annotator or accepted from a model version's predictions (then adjusted like
drawn ones). Stored per annotator; an annotator reads and changes only their own, an admin
everyone's. Deleting is soft (``deleted_at``) and can be undone (:func:`restore_segment`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.assignments.work import note_work
from server.errors import Forbidden, Gone, NotFound, Unprocessable
from server.labels.service import check_class_ids, check_not_retired
from server.models import (
    ActionClass,
    Prediction,
    Role,
    Segment,
    SegmentSource,
    User,
    Video,
    utcnow,
)
from server.segments.schemas import (
    AcceptRequest,
    AcceptResult,
    SegmentIn,
    SegmentPatch,
    segment_out,
)
from server.timebase import EPS
from server.training.service import resolve_version
from server.videos.service import get_live_video


def check_range(video: Video, start_s: float, end_s: float) -> tuple[float, float]:
    """``0 ≤ start < end ≤ duration`` (an end a rounding error past the video's end is
    clamped to it); returns the times to store."""
    duration = video.duration_s
    if end_s <= start_s:
        raise Unprocessable(
            f"a segment must end after it starts: end_s={end_s:g} is not after start_s={start_s:g}"
        )
    if start_s < 0 or start_s >= duration:
        raise Unprocessable(
            f"start_s={start_s:g} is outside the video: it must lie in [0, {duration:g}) seconds"
        )
    if end_s > duration + EPS:
        raise Unprocessable(f"end_s={end_s:g} is past the end of the video ({duration:g} seconds)")
    return start_s, min(end_s, duration)


def _by_client_key(session: Session, user: User, key: str) -> Segment | None:
    return session.scalar(
        select(Segment).where(Segment.annotator_id == user.id, Segment.client_key == key)
    )


def create_segment(
    session: Session, video_id: int, user: User, body: SegmentIn
) -> tuple[Segment, bool]:
    """Store a drawn segment; with a ``client_key`` seen before, return that segment
    instead. Returns ``(segment, created)``."""
    video = get_live_video(session, video_id)
    if body.client_key is not None:
        existing = _by_client_key(session, user, body.client_key)
        if existing is not None:
            return existing, False
    note_work(session, video.id, user)
    check_class_ids(session, [body.class_id])
    check_not_retired(session, [body.class_id])
    start, end = check_range(video, body.start_s, body.end_s)
    now = utcnow()
    segment = Segment(
        video_id=video.id,
        annotator_id=user.id,
        class_id=body.class_id,
        start_s=start,
        end_s=end,
        source=SegmentSource.drawn,
        client_key=body.client_key,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():  # a concurrent retry of the same key may win the race
            session.add(segment)
            session.flush()
    except IntegrityError:
        existing = (
            _by_client_key(session, user, body.client_key) if body.client_key is not None else None
        )
        if existing is None:
            raise
        return existing, False
    return segment, True


def list_segments(
    session: Session, video_id: int, user: User, annotator_id: int | None
) -> list[Segment]:
    """Live segments of a video: the caller's own; an admin sees all (or one annotator's)."""
    get_live_video(session, video_id)
    q = select(Segment).where(Segment.video_id == video_id, Segment.deleted_at.is_(None))
    if user.role == Role.admin:
        if annotator_id is not None:
            q = q.where(Segment.annotator_id == annotator_id)
    else:
        if annotator_id is not None and annotator_id != user.id:
            raise Forbidden("annotators can only read their own segments")
        q = q.where(Segment.annotator_id == user.id)
    return list(session.scalars(q.order_by(Segment.start_s, Segment.id)))


def _owned(session: Session, segment_id: int, user: User) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"segment {segment_id} does not exist")
    if user.role != Role.admin and segment.annotator_id != user.id:
        raise Forbidden(
            f"segment {segment_id} belongs to another annotator: you can change only yours"
        )
    if segment.annotator_id == user.id:  # an admin changing someone's segment reviews it
        note_work(session, segment.video_id, user)
    return segment


def update_segment(session: Session, segment_id: int, user: User, body: SegmentPatch) -> Segment:
    """Move a segment's edges and/or change its class (own segment; an admin any)."""
    segment = _owned(session, segment_id, user)
    if segment.deleted_at is not None:
        raise Gone(f"segment {segment_id} was deleted: restore it first to change it")
    video = get_live_video(session, segment.video_id)
    if body.class_id is not None and body.class_id != segment.class_id:
        check_class_ids(session, [body.class_id])
        check_not_retired(session, [body.class_id])
    start = body.start_s if body.start_s is not None else segment.start_s
    end = body.end_s if body.end_s is not None else segment.end_s
    start, end = check_range(video, start, end)
    segment.start_s, segment.end_s = start, end
    if body.class_id is not None:
        segment.class_id = body.class_id
    segment.updated_at = utcnow()
    session.flush()
    return segment


def delete_segment(session: Session, segment_id: int, user: User) -> None:
    """Soft-delete a segment (own; an admin any). Deleting twice is not an error."""
    segment = _owned(session, segment_id, user)
    if segment.deleted_at is None:
        segment.deleted_at = utcnow()
        segment.updated_at = segment.deleted_at
        session.flush()


def restore_segment(session: Session, segment_id: int, user: User) -> Segment:
    """Undo a deletion (own segment; an admin any). Restoring a live one is not an error."""
    segment = _owned(session, segment_id, user)
    get_live_video(session, segment.video_id)
    if segment.deleted_at is not None:
        segment.deleted_at = None
        segment.updated_at = utcnow()
        session.flush()
    return segment


def accept_predictions(
    session: Session, video_id: int, user: User, body: AcceptRequest
) -> AcceptResult:
    """Copy predicted segments of a model version into the caller's segments
    (``source = prediction``, the version, score and predicted edges recorded).

    Which: ``prediction_ids``; or the best-scoring one containing ``at_s`` (of
    ``class_id`` when given); or every one of ``class_id`` scoring at least ``min_score``.
    A prediction the caller accepted before (same version, class and edges, still live)
    is not stored twice: it comes back in ``already_accepted``.
    """
    video = get_live_video(session, video_id)
    note_work(session, video.id, user)
    version = resolve_version(session, body.model_version)
    if version is None:
        raise NotFound("no model version is active: train one (or name a version) first")
    if body.class_id is not None:
        check_class_ids(session, [body.class_id])
        check_not_retired(session, [body.class_id])
    q = select(Prediction).where(
        Prediction.model_version_id == version.id, Prediction.video_id == video.id
    )
    chosen: list[Prediction]
    if body.prediction_ids is not None:
        wanted = sorted(set(body.prediction_ids))
        chosen = list(session.scalars(q.where(Prediction.id.in_(wanted))))
        missing = sorted(set(wanted) - {p.id for p in chosen})
        if missing:
            raise NotFound(
                "predicted segment(s) "
                + ", ".join(map(str, missing))
                + f" are not predictions of model version {version.id} on video {video.id}"
            )
        check_not_retired(session, sorted({p.class_id for p in chosen}))
    elif body.at_s is not None:
        t = body.at_s
        q = q.where(Prediction.start_s <= t + EPS, Prediction.end_s >= t - EPS)
        if body.class_id is not None:
            q = q.where(Prediction.class_id == body.class_id)
        else:  # a retired class takes no new segments: the best of the live classes
            live = select(ActionClass.id).where(ActionClass.retired_at.is_(None))
            q = q.where(Prediction.class_id.in_(live))
        best = session.scalars(q.order_by(Prediction.score.desc(), Prediction.id)).first()
        if best is None:
            of = f" of class {body.class_id}" if body.class_id is not None else ""
            raise NotFound(
                f"model version {version.id} predicts no segment{of} at {t:g} s on this video"
            )
        chosen = [best]
    else:
        assert body.class_id is not None and body.min_score is not None
        chosen = list(
            session.scalars(
                q.where(
                    Prediction.class_id == body.class_id, Prediction.score >= body.min_score
                ).order_by(Prediction.start_s, Prediction.id)
            )
        )
    mine = list(
        session.scalars(
            select(Segment).where(
                Segment.annotator_id == user.id,
                Segment.video_id == video.id,
                Segment.model_version_id == version.id,
                Segment.source == SegmentSource.prediction,
                Segment.deleted_at.is_(None),
            )
        )
    )
    before = {(s.class_id, s.predicted_start_s, s.predicted_end_s): s for s in mine}
    created: list[Segment] = []
    already: list[Segment] = []
    now = utcnow()
    for p in sorted(chosen, key=lambda p: (p.start_s, p.id)):
        start = max(0.0, float(p.start_s))
        end = min(video.duration_s, float(p.end_s))
        if end <= start:
            continue  # nothing of it lies inside the video
        key = (p.class_id, start, end)
        if key in before:
            already.append(before[key])
            continue
        segment = Segment(
            video_id=video.id,
            annotator_id=user.id,
            class_id=p.class_id,
            start_s=start,
            end_s=end,
            source=SegmentSource.prediction,
            model_version_id=version.id,
            prediction_score=float(p.score),
            predicted_start_s=start,
            predicted_end_s=end,
            created_at=now,
            updated_at=now,
        )
        session.add(segment)
        before[key] = segment
        created.append(segment)
    session.flush()
    return AcceptResult(
        model_version_id=version.id,
        created=[segment_out(s) for s in created],
        already_accepted=[segment_out(s) for s in already],
    )
