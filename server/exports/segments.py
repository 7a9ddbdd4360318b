"""Segments as ActivityNet ground-truth JSON: the layout ``python -m model.cli eval --gt``
(``model.evaluate.load_gt_json``) reads, and its import (all or nothing).

Export::

    {"version": "BackTAL Studio segments",
     "activity_list": [class names in index order],
     "database": {"<video name>": {
         "subset": "validation" | "training",   # the video's validation flag
         "duration": 12.0, "fps": 25.0,
         "annotations": [{"segment": [start_s, end_s], "label": "<class>", "idx": <index>,
                          "annotator": "<name>", "source": "drawn" | "prediction",
                          "model_version_id": 3, "score": 0.91,
                          "predicted_segment": [start_s, end_s]}, ...]}}}

``segment``, ``label`` (and ``subset``) are what ActivityNet readers use; the rest are our
fields, which they ignore: who drew it, and whether it came from a model's prediction
(``source``; then the version, its score and the predicted edges as accepted, before any
adjustment). Only live videos with live segments are listed.

Import stores every annotation as a segment of one annotator (or of the annotator each
annotation names), checking all of them first: one bad annotation and nothing is stored.
A segment already there (same annotator, video, class and edges) is not stored twice, so an
export imported again changes nothing and export → import → export gives the same file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import NotFound, Unprocessable
from server.exports.schemas import SegmentImportResult
from server.models import (
    ActionClass,
    ModelVersion,
    Segment,
    SegmentSource,
    User,
    Video,
    utcnow,
)
from server.timebase import EPS
from server.users.service import get_or_create_annotator

FORMAT_VERSION = "BackTAL Studio segments"
MAX_ERRORS_SHOWN = 10


def export_segments(
    session: Session, *, annotator_id: int | None = None, video_id: int | None = None
) -> dict[str, Any]:
    """The live segments (of one annotator / one video) as ActivityNet GT JSON."""
    if annotator_id is not None and session.get(User, annotator_id) is None:
        raise NotFound(f"there is no user with id {annotator_id} (annotator_id)")
    if video_id is not None:
        video = session.get(Video, video_id)
        if video is None or video.deleted_at is not None:
            raise NotFound(f"video {video_id} does not exist")
    classes = list(session.scalars(select(ActionClass).order_by(ActionClass.id)))
    index = {c.id: i for i, c in enumerate(classes)}
    q = (
        select(Segment, Video, User.name)
        .join(Video, Video.id == Segment.video_id)
        .join(User, User.id == Segment.annotator_id)
        .where(Segment.deleted_at.is_(None), Video.deleted_at.is_(None))
        .order_by(Video.name, Segment.start_s, Segment.end_s, Segment.id)
    )
    if annotator_id is not None:
        q = q.where(Segment.annotator_id == annotator_id)
    if video_id is not None:
        q = q.where(Segment.video_id == video_id)
    database: dict[str, Any] = {}
    for seg, video, who in session.execute(q):
        entry = database.setdefault(
            video.name,
            {
                "subset": "validation" if video.is_validation else "training",
                "duration": video.duration_s,
                "fps": video.fps,
                "annotations": [],
            },
        )
        ann: dict[str, Any] = {
            "segment": [seg.start_s, seg.end_s],
            "label": classes[index[seg.class_id]].name,
            "idx": index[seg.class_id],
            "annotator": who,
            "source": str(seg.source),
        }
        if seg.source == SegmentSource.prediction:
            ann["model_version_id"] = seg.model_version_id
            ann["score"] = seg.prediction_score
            if seg.predicted_start_s is not None and seg.predicted_end_s is not None:
                ann["predicted_segment"] = [seg.predicted_start_s, seg.predicted_end_s]
        entry["annotations"].append(ann)
    return {
        "version": FORMAT_VERSION,
        "activity_list": [c.name for c in classes],
        "database": database,
    }


@dataclass
class _Row:
    video: Video
    annotator: str
    class_id: int
    start: float
    end: float
    source: SegmentSource
    model_version_id: int | None
    score: float | None
    predicted: tuple[float, float] | None


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError("not finite")
    return out


def _pair(value: Any) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise TypeError("not a pair")
    return _number(value[0]), _number(value[1])


def _parse(data: bytes) -> Mapping[str, Any]:
    try:
        doc = json.loads(data)
        database = doc["database"]
        if not isinstance(database, dict):
            raise TypeError("'database' must be an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise Unprocessable(
            "not an ActivityNet ground-truth JSON ({'database': {video: {'annotations': "
            f"[{{'segment': [start, end], 'label': class}}]}}}}): {exc}"
        ) from None
    return database


def import_segments(
    session: Session,
    data: bytes,
    *,
    annotator: str | None,
    max_rows: int,
) -> SegmentImportResult:
    """Store the file's annotations as segments, all or none (see the module docstring).

    ``annotator``: every annotation becomes this annotator's (created without a login if
    new); None: each annotation's own ``annotator`` field, which is then required."""
    database = _parse(data)
    all_classes = list(session.scalars(select(ActionClass)))
    classes = {c.name: c.id for c in all_classes}
    retired = {c.name for c in all_classes if c.retired_at is not None}
    names = [n for n in database if isinstance(n, str)]
    videos = (
        {
            v.name: v
            for v in session.scalars(
                select(Video).where(Video.name.in_(names), Video.deleted_at.is_(None))
            )
        }
        if names
        else {}
    )
    versions = set(session.scalars(select(ModelVersion.id)))
    errors: list[str] = []
    rows: list[_Row] = []
    for name, record in database.items():
        video = videos.get(name)
        if video is None:
            errors.append(f"unknown video {name!r}")
            continue
        anns = record.get("annotations", []) if isinstance(record, dict) else None
        if not isinstance(anns, list):
            errors.append(f"{name}: 'annotations' must be a list")
            continue
        for k, ann in enumerate(anns):
            where = f"{name} annotation {k}"
            if not isinstance(ann, dict):
                errors.append(f"{where}: must be an object with 'segment' and 'label'")
                continue
            try:
                start, end = _pair(ann.get("segment"))
            except (TypeError, ValueError):
                errors.append(f"{where}: 'segment' must be [start, end] in seconds")
                continue
            label = ann.get("label")
            if not isinstance(label, str) or label not in classes:
                errors.append(f"{where}: unknown class {label!r}")
                continue
            if label in retired:
                errors.append(f"{where}: class {label!r} is retired (an admin can unretire it)")
                continue
            if not 0 <= start < end:
                errors.append(f"{where}: need 0 <= start < end, got {start:g}, {end:g}")
                continue
            if end > video.duration_s + EPS:
                errors.append(
                    f"{where}: end {end:g} s is past the end of the video ({video.duration_s:g} s)"
                )
                continue
            who = annotator if annotator is not None else ann.get("annotator")
            if not isinstance(who, str) or not 1 <= len(who.strip()) <= 64:
                errors.append(f"{where}: 'annotator' (a name of 1 to 64 characters) is missing")
                continue
            source_name = ann.get("source", "drawn")
            if source_name not in {s.value for s in SegmentSource}:
                errors.append(f"{where}: source must be 'drawn' or 'prediction'")
                continue
            source = SegmentSource(source_name)
            version, score, predicted = None, None, None
            if source == SegmentSource.prediction:
                raw = ann.get("model_version_id")
                version = raw if isinstance(raw, int) and raw in versions else None
                try:
                    score = _number(ann["score"]) if ann.get("score") is not None else None
                    if ann.get("predicted_segment") is not None:
                        predicted = _pair(ann["predicted_segment"])
                except (TypeError, ValueError):
                    errors.append(
                        f"{where}: 'score' must be a number, 'predicted_segment' [start, end]"
                    )
                    continue
            rows.append(
                _Row(
                    video,
                    who.strip(),
                    classes[label],
                    start,
                    min(end, video.duration_s),
                    source,
                    version,
                    score,
                    predicted,
                )
            )
            if len(rows) > max_rows:
                raise Unprocessable(f"nothing was imported: more than {max_rows} annotations")
    if errors:
        more = (
            f" (and {len(errors) - MAX_ERRORS_SHOWN} more)"
            if len(errors) > MAX_ERRORS_SHOWN
            else ""
        )
        raise Unprocessable("nothing was imported: " + "; ".join(errors[:MAX_ERRORS_SHOWN]) + more)
    users = {
        who: get_or_create_annotator(session, who) for who in sorted({r.annotator for r in rows})
    }
    present = (
        {
            (s.annotator_id, s.video_id, s.class_id, s.start_s, s.end_s)
            for s in session.scalars(
                select(Segment).where(
                    Segment.deleted_at.is_(None),
                    Segment.annotator_id.in_([u.id for u in users.values()]),
                    Segment.video_id.in_([v.id for v in videos.values()]),
                )
            )
        }
        if rows
        else set()
    )
    now = utcnow()
    new: list[Segment] = []
    for r in rows:
        user = users[r.annotator]
        key = (user.id, r.video.id, r.class_id, r.start, r.end)
        if key in present:
            continue
        present.add(key)
        new.append(
            Segment(
                video_id=r.video.id,
                annotator_id=user.id,
                class_id=r.class_id,
                start_s=r.start,
                end_s=r.end,
                source=r.source,
                model_version_id=r.model_version_id,
                prediction_score=r.score,
                predicted_start_s=r.predicted[0] if r.predicted else None,
                predicted_end_s=r.predicted[1] if r.predicted else None,
                created_at=now,
                updated_at=now,
            )
        )
    session.add_all(new)
    session.flush()
    return SegmentImportResult(
        annotators=sorted(users),
        videos=len({r.video.id for r in rows}),
        rows=len(rows),
        imported=len(new),
        already_present=len(rows) - len(new),
    )
