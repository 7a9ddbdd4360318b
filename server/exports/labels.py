"""Export of the annotators' labels: video-level labels, clicks and segments, per video.

One JSON document (``LabelExport``) of every live video, each with its labels, live clicks
and live segments, by annotator name and class name (ids of classes and videos too, so a
file can be matched back). ``parts`` picks some of them. Each part is one function in
``PARTS`` (video ids, annotator filter → rows per video): a new kind of label adds its
exporter there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from server.errors import NotFound, Unprocessable
from server.exports.schemas import (
    ExportedClass,
    ExportedLabelClick,
    ExportedSegment,
    ExportedVideo,
    ExportedVideoLabel,
    LabelExport,
)
from server.models import ActionClass, Click, Segment, User, Video, VideoLabel, utcnow

PartRows = dict[int, list[object]]
PartExporter = Callable[[Session, Sequence[int], int | None], PartRows]


def _labels(session: Session, video_ids: Sequence[int], annotator_id: int | None) -> PartRows:
    q = (
        select(VideoLabel.video_id, User.name, ActionClass.name)
        .join(User, User.id == VideoLabel.annotator_id)
        .join(ActionClass, ActionClass.id == VideoLabel.class_id)
        .where(VideoLabel.video_id.in_(video_ids))
        .order_by(VideoLabel.video_id, User.name, ActionClass.id)
    )
    if annotator_id is not None:
        q = q.where(VideoLabel.annotator_id == annotator_id)
    out: PartRows = defaultdict(list)
    for vid, who, cls in session.execute(q):
        out[vid].append(ExportedVideoLabel(annotator=who, class_name=cls))
    return out


def _clicks(session: Session, video_ids: Sequence[int], annotator_id: int | None) -> PartRows:
    cls = aliased(ActionClass)
    q = (
        select(Click, User.name, cls.name)
        .join(User, User.id == Click.annotator_id)
        .outerjoin(cls, cls.id == Click.class_id)
        .where(Click.video_id.in_(video_ids), Click.deleted_at.is_(None))
        .order_by(Click.video_id, Click.t_s, Click.id)
    )
    if annotator_id is not None:
        q = q.where(Click.annotator_id == annotator_id)
    out: PartRows = defaultdict(list)
    for click, who, name in session.execute(q):
        out[click.video_id].append(
            ExportedLabelClick(
                annotator=who,
                t_s=click.t_s,
                end_s=click.end_s,
                frame_index=click.frame_index,
                kind=str(click.kind),
                class_name=name,
                created_at=click.created_at,
            )
        )
    return out


def _segments(session: Session, video_ids: Sequence[int], annotator_id: int | None) -> PartRows:
    q = (
        select(Segment, User.name, ActionClass.name)
        .join(User, User.id == Segment.annotator_id)
        .join(ActionClass, ActionClass.id == Segment.class_id)
        .where(Segment.video_id.in_(video_ids), Segment.deleted_at.is_(None))
        .order_by(Segment.video_id, Segment.start_s, Segment.id)
    )
    if annotator_id is not None:
        q = q.where(Segment.annotator_id == annotator_id)
    out: PartRows = defaultdict(list)
    for seg, who, name in session.execute(q):
        out[seg.video_id].append(
            ExportedSegment(
                annotator=who,
                class_name=name,
                start_s=seg.start_s,
                end_s=seg.end_s,
                source=str(seg.source),
                model_version_id=seg.model_version_id,
                prediction_score=seg.prediction_score,
            )
        )
    return out


PARTS: dict[str, PartExporter] = {"labels": _labels, "clicks": _clicks, "segments": _segments}


def parse_parts(values: list[str] | None) -> list[str]:
    """``labels,clicks`` or repeated; None: every part."""
    if values is None:
        return list(PARTS)
    names = [p.strip() for v in values for p in v.split(",") if p.strip()]
    unknown = sorted(set(names) - set(PARTS))
    if unknown:
        raise Unprocessable(
            f"unknown part {', '.join(unknown)}: choose from {', '.join(PARTS)} (or leave "
            "parts out for all of them)"
        )
    if not names:
        raise Unprocessable("parts is empty: leave it out to export every part")
    return [p for p in PARTS if p in names]


def export_labels(
    session: Session,
    *,
    parts: list[str],
    annotator_id: int | None = None,
    video_id: int | None = None,
) -> LabelExport:
    if annotator_id is not None and session.get(User, annotator_id) is None:
        raise NotFound(f"there is no user with id {annotator_id} (annotator_id)")
    q = select(Video).where(Video.deleted_at.is_(None)).order_by(Video.id)
    if video_id is not None:
        q = q.where(Video.id == video_id)
    videos = list(session.scalars(q))
    if video_id is not None and not videos:
        raise NotFound(f"video {video_id} does not exist")
    ids = [v.id for v in videos]
    rows = {name: PARTS[name](session, ids, annotator_id) if ids else {} for name in parts}
    classes = session.scalars(select(ActionClass).order_by(ActionClass.id))
    return LabelExport(
        format="backtal-labels/1",
        exported_at=utcnow(),
        parts=parts,
        classes=[
            ExportedClass(id=c.id, name=c.name, retired=c.retired_at is not None) for c in classes
        ],
        videos=[
            ExportedVideo(
                id=v.id,
                name=v.name,
                title=v.title,
                duration_s=v.duration_s,
                fps=v.fps,
                frame_count=v.frame_count,
                **{name: rows[name].get(v.id, []) for name in parts},
            )
            for v in videos
        ],
    )
