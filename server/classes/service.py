"""Classes over time. Each function runs inside the caller's transaction (the request's):
a merge moves everything or nothing.

* rename: the class keeps its id, so clicks, labels, GT and predictions follow; model
  versions' class lists (``class_names``, which map a model output to a class by name) and
  their data summaries take the new name.
* merge A into B: every row that references A — video labels, clicks (live and deleted),
  ground-truth segments, drawn/accepted segments, predictions, suggestions, activation
  curves, model versions' class lists — moves to B, then A is deleted. Rows that would then
  say the same thing twice are merged, not duplicated (see ``MergeCounts``).
* retire: the class stays on record (everything keeps pointing at it), is hidden from the
  number keys and pickers (``GET /classes`` leaves it out unless asked), takes no new
  labels or action clicks, and training sets leave it out (server/training/dataset.py).
  A version trained before still predicts it. Unretire undoes that.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from server.classes.schemas import MergeCounts
from server.errors import Conflict, NotFound, Unprocessable
from server.models import (
    ActionClass,
    ActivationCurve,
    Click,
    ClickKind,
    GroundTruthSegment,
    ModelVersion,
    Prediction,
    Segment,
    Suggestion,
    VideoLabel,
    utcnow,
)

# Every table with a foreign key to action_classes, and the step of merge() that moves it
# (tests/server/classes checks that no such table is left out).
MERGED_TABLES = (
    "video_labels",
    "clicks",
    "gt_segments",
    "segments",
    "predictions",
    "suggestions",
)


def get_class(session: Session, class_id: int) -> ActionClass:
    cls = session.get(ActionClass, class_id)
    if cls is None:
        raise NotFound(f"class {class_id} does not exist")
    return cls


def _rename_in_versions(session: Session, old: str, new: str) -> int:
    """Replace ``old`` by ``new`` in every version's class list and data summary."""
    changed = 0
    for version in session.scalars(select(ModelVersion).order_by(ModelVersion.id)):
        if old not in (version.class_names or []):
            continue
        version.class_names = [new if n == old else n for n in version.class_names]
        flag_modified(version, "class_names")
        summary = dict(version.data_summary or {})
        if isinstance(summary.get("classes"), list):
            summary["classes"] = list(
                dict.fromkeys(new if n == old else n for n in summary["classes"])
            )
            version.data_summary = summary
            flag_modified(version, "data_summary")
        changed += 1
    return changed


def rename(session: Session, class_id: int, name: str) -> ActionClass:
    cls = get_class(session, class_id)
    name = name.strip()
    if name == cls.name:
        return cls
    other = session.scalar(select(ActionClass).where(ActionClass.name == name))
    if other is not None:
        raise Conflict(
            f"a class named {name!r} already exists (id {other.id}): to make them one, merge "
            f'this class into it (POST /classes/{class_id}/merge with {{"into": {other.id}}})'
        )
    _rename_in_versions(session, cls.name, name)
    cls.name = name
    session.flush()
    return cls


def set_retired(session: Session, class_id: int, retired: bool) -> ActionClass:
    cls = get_class(session, class_id)
    if retired and cls.retired_at is None:
        cls.retired_at = utcnow()
    elif not retired:
        cls.retired_at = None
    session.flush()
    return cls


# --------------------------------------------------------------------------- merge


def _merge_labels(session: Session, a: int, b: int, counts: MergeCounts) -> None:
    pair = select(VideoLabel.video_id, VideoLabel.annotator_id)
    have_b = {tuple(r) for r in session.execute(pair.where(VideoLabel.class_id == b))}
    rows = [tuple(r) for r in session.execute(pair.where(VideoLabel.class_id == a))]
    dupes = [r for r in rows if r in have_b]
    for vid, uid in dupes:
        session.execute(
            delete(VideoLabel).where(
                VideoLabel.video_id == vid, VideoLabel.annotator_id == uid, VideoLabel.class_id == a
            )
        )
    session.execute(update(VideoLabel).where(VideoLabel.class_id == a).values(class_id=b))
    counts.video_labels = len(rows) - len(dupes)
    counts.video_labels_merged = len(dupes)


def _merge_clicks(session: Session, a: int, b: int, counts: MergeCounts) -> None:
    def key(c: Click) -> tuple[Any, ...]:
        return (c.video_id, c.annotator_id, c.t_s, c.end_s)

    live_b = {
        key(c)
        for c in session.scalars(
            select(Click).where(
                Click.class_id == b,
                Click.kind == ClickKind.action,
                Click.deleted_at.is_(None),
            )
        )
    }
    moved = list(session.scalars(select(Click).where(Click.class_id == a).order_by(Click.id)))
    now = utcnow()
    merged = 0
    for click in moved:
        click.class_id = b
        if click.deleted_at is None:
            if key(click) in live_b:
                click.deleted_at = now  # the same click of the kept class is already there
                merged += 1
            else:
                live_b.add(key(click))
    counts.clicks = len(moved) - merged
    counts.clicks_merged = merged


def _merge_gt(session: Session, a: int, b: int, counts: MergeCounts) -> None:
    gt = GroundTruthSegment
    edges = select(gt.video_id, gt.start_s, gt.end_s).where(gt.class_id == b)
    have_b = {tuple(r) for r in session.execute(edges)}
    moved = list(session.scalars(select(gt).where(gt.class_id == a).order_by(gt.id)))
    merged = 0
    for seg in moved:
        k = (seg.video_id, seg.start_s, seg.end_s)
        if k in have_b:
            session.delete(seg)
            merged += 1
        else:
            seg.class_id = b
            have_b.add(k)
    counts.gt_segments = len(moved) - merged
    counts.gt_segments_merged = merged


def _merge_segments(session: Session, a: int, b: int, counts: MergeCounts) -> None:
    def key(s: Segment) -> tuple[Any, ...]:
        return (s.video_id, s.annotator_id, s.start_s, s.end_s)

    live_b = {
        key(s)
        for s in session.scalars(
            select(Segment).where(Segment.class_id == b, Segment.deleted_at.is_(None))
        )
    }
    moved = list(session.scalars(select(Segment).where(Segment.class_id == a).order_by(Segment.id)))
    now = utcnow()
    merged = 0
    for seg in moved:
        seg.class_id = b
        seg.updated_at = now
        if seg.deleted_at is None:
            if key(seg) in live_b:
                seg.deleted_at = now
                merged += 1
            else:
                live_b.add(key(seg))
    counts.segments = len(moved) - merged
    counts.segments_merged = merged


def _merge_predictions(session: Session, a: int, b: int, counts: MergeCounts) -> None:
    by_key: dict[tuple[Any, ...], Prediction] = {
        (p.model_version_id, p.video_id, p.start_s, p.end_s): p
        for p in session.scalars(select(Prediction).where(Prediction.class_id == b))
    }
    moved = list(session.scalars(select(Prediction).where(Prediction.class_id == a)))
    merged = 0
    for p in moved:
        k = (p.model_version_id, p.video_id, p.start_s, p.end_s)
        kept = by_key.get(k)
        if kept is not None:
            kept.score = max(kept.score, p.score)
            session.delete(p)
            merged += 1
        else:
            p.class_id = b
            by_key[k] = p
    counts.predictions = len(moved) - merged
    counts.predictions_merged = merged
    counts.suggestions = int(
        session.execute(  # type: ignore[attr-defined]
            update(Suggestion).where(Suggestion.class_id == a).values(class_id=b)
        ).rowcount
    )


def _merge_curves(session: Session, a: int, b: int, counts: MergeCounts) -> None:
    """Activation curves are stored per video as {"classes": {"<class id>": [...]}}: A's
    curve becomes B's, or their maximum where the version has both."""
    ka, kb = str(a), str(b)
    changed = 0
    for curve in session.scalars(select(ActivationCurve)):
        classes = dict((curve.data or {}).get("classes") or {})
        if ka not in classes:
            continue
        values = classes.pop(ka)
        if kb in classes:
            classes[kb] = [max(x, y) for x, y in zip(classes[kb], values, strict=False)]
        else:
            classes[kb] = values
        curve.data = {**curve.data, "classes": classes}
        flag_modified(curve, "data")
        changed += 1
    counts.activation_curves = changed


MERGE_STEPS = (
    _merge_labels,
    _merge_clicks,
    _merge_gt,
    _merge_segments,
    _merge_predictions,
    _merge_curves,
)


def merge(session: Session, class_id: int, into: int) -> tuple[str, ActionClass, MergeCounts]:
    """Move everything of class ``class_id`` to ``into`` and delete it (one transaction:
    the caller's). Returns (the merged class's name, the kept class, what moved)."""
    if class_id == into:
        raise Unprocessable("a class cannot be merged into itself: choose another class")
    source = get_class(session, class_id)
    target = session.get(ActionClass, into)
    if target is None:
        raise NotFound(f"class {into} does not exist (into)")
    if target.retired_at is not None:
        raise Conflict(
            f"class {target.name!r} is retired: unretire it first, or merge into another class"
        )
    counts = MergeCounts()
    session.flush()
    for step in MERGE_STEPS:
        step(session, source.id, target.id, counts)
        session.flush()
    counts.model_versions = _rename_in_versions(session, source.name, target.name)
    name = source.name
    session.delete(source)
    session.flush()
    return name, target, counts
