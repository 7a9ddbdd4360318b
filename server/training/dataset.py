"""The one adapter between database rows and the trainer's inputs (``model.data``).

Rules (documented for users in the README):
- A video takes part when it is live, has features of the chosen extractor, and at least
  one annotator gave it a video-level label or an action click.
- Video-level labels of several annotators are merged by **union**: a class is present if
  any annotator says so (an action click of a class also says so). Clicks of every
  annotator are pooled; clicks that land on the same snippet count once.
- A click at ``t`` seconds lands on snippet ``min(T − 1, floor(t / duration · T))`` (the
  official rule); a click file's short span [t, end] marks every snippet it covers.
- Class index = position of the class in creation order among the classes taken part
  (retired classes never do).
- Ground truth of a video (``VideoItem.gt_segments``, for evaluation only): its imported
  ground truth when there is any; else the live segments (drawn or accepted predictions)
  of the one annotator who has the most on it (ties: the lowest user id) — one person's
  consistent labelling, never two annotators' copies of the same action counted twice.
- ``approved_only`` (Retrain's option): only the labels and clicks of (video, annotator)
  pairs whose assignment a reviewer approved take part (``server/assignments``); ground
  truth, which only measures, is not filtered.
- Validation videos (``videos.is_validation``) never train: a training set leaves them
  out of ``items`` and returns those with features and ground truth in ``validation``
  (all of them, whatever ``video_ids`` says, so every version is measured on the same set).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from model.data import VideoItem
from model.timebase import snippet_index
from server.assignments.work import approved_clause
from server.models import (
    ActionClass,
    Click,
    ClickKind,
    Feature,
    GroundTruthSegment,
    Segment,
    SegmentSource,
    User,
    Video,
    VideoLabel,
)
from server.storage import Storage
from server.storage.files import load_npy


@dataclass(frozen=True)
class GtSegment:
    """One ground-truth segment and where it came from (the exports say so)."""

    start_s: float
    end_s: float
    class_index: int
    origin: str  # "imported" (ground-truth import) | "drawn" | "prediction" (accepted)
    annotator_id: int | None = None
    model_version_id: int | None = None
    prediction_score: float | None = None


@dataclass
class Dataset:
    items: list[VideoItem]
    class_names: list[str]
    class_ids: list[int]  # class index -> action_classes.id
    video_ids: dict[str, int]  # video name -> id (items and validation)
    extractor: str | None
    summary: dict[str, Any] = field(default_factory=dict)
    # validation videos with features and ground truth (never in ``items`` of a training set)
    validation: list[VideoItem] = field(default_factory=list)
    ground_truth: dict[str, list[GtSegment]] = field(default_factory=dict)  # video name ->

    @property
    def background_clicks(self) -> int:
        return int(sum(len(it.bg_clicks) for it in self.items))

    @property
    def action_clicks(self) -> int:
        return int(sum(len(it.action_clicks) for it in self.items))


def choose_extractor(session: Session, requested: str | None = None) -> str | None:
    """``requested``, else the extractor that covers the most live videos."""
    if requested:
        return requested
    rows = session.execute(
        select(Feature.extractor)
        .join(Video, Video.id == Feature.video_id)
        .where(Video.deleted_at.is_(None))
    ).scalars()
    counts = Counter(rows)
    return counts.most_common(1)[0][0] if counts else None


def ground_truth_of(
    session: Session,
    video_ids: list[int],
    index: dict[int, int],
    annotator_id: int | None = None,
) -> dict[int, list[GtSegment]]:
    """Per video: its imported ground truth, else one annotator's live segments (the one
    with the most; ``annotator_id``: only theirs). Classes outside ``index`` are left out."""
    out: dict[int, list[GtSegment]] = defaultdict(list)
    if not video_ids:
        return out
    for seg in session.scalars(
        select(GroundTruthSegment)
        .where(GroundTruthSegment.video_id.in_(video_ids))
        .order_by(GroundTruthSegment.start_s, GroundTruthSegment.id)
    ):
        if seg.class_id in index:
            out[seg.video_id].append(
                GtSegment(seg.start_s, seg.end_s, index[seg.class_id], "imported")
            )
    rest = [v for v in video_ids if v not in out]
    if not rest:
        return out
    q = select(Segment).where(Segment.video_id.in_(rest), Segment.deleted_at.is_(None))
    if annotator_id is not None:
        q = q.where(Segment.annotator_id == annotator_id)
    drawn: dict[int, dict[int, list[Segment]]] = defaultdict(lambda: defaultdict(list))
    for row in session.scalars(q.order_by(Segment.start_s, Segment.id)):
        if row.class_id in index:
            drawn[row.video_id][row.annotator_id].append(row)
    for vid, by_annotator in drawn.items():
        who = min(by_annotator, key=lambda uid: (-len(by_annotator[uid]), uid))
        out[vid] = [
            GtSegment(
                row.start_s,
                row.end_s,
                index[row.class_id],
                "prediction" if row.source == SegmentSource.prediction else "drawn",
                row.annotator_id,
                row.model_version_id,
                row.prediction_score,
            )
            for row in by_annotator[who]
        ]
    return out


def _snippets(t: float, end: float | None, duration: float, T: int) -> list[int]:
    first = snippet_index(t, duration, T)
    last = snippet_index(end, duration, T) if end is not None else first
    return list(range(first, last + 1))


def build_dataset(
    session: Session,
    storage: Storage | None,
    *,
    extractor: str | None = None,
    video_ids: list[int] | None = None,
    labelled_only: bool = True,
    load_features: bool = True,
    annotator_id: int | None = None,
    class_ids: list[int] | None = None,
    include_retired: bool = False,
    approved_only: bool = False,
) -> Dataset:
    """Videos with features as ``VideoItem`` s, with merged labels, clicks and GT segments.

    With ``labelled_only=False`` every video with features is included (for prediction).
    With ``load_features=False`` the arrays are not read (for counting and validation) and
    ``storage`` may be None; otherwise they are read from ``storage``.
    ``annotator_id`` keeps only that annotator's labels and clicks; ``class_ids`` keeps only
    those classes (index = position among them in creation order; labels, action clicks
    and GT segments of the other classes are left out). Both are used by the data-set export.
    Retired classes are left out like unchosen ones (training ignores them) unless
    ``include_retired`` (prediction: a version trained before the retirement still
    predicts them) or ``class_ids`` names them. ``approved_only`` keeps only the labels and
    clicks of approved (video, annotator) work.
    """
    if load_features and storage is None:
        raise ValueError("build_dataset needs the storage to load features")
    class_q = select(ActionClass).order_by(ActionClass.id)
    if class_ids is not None:
        class_q = class_q.where(ActionClass.id.in_(class_ids))
    elif not include_retired:
        class_q = class_q.where(ActionClass.retired_at.is_(None))
    classes = list(session.scalars(class_q))
    index = {c.id: i for i, c in enumerate(classes)}
    name = choose_extractor(session, extractor)
    empty = Dataset([], [c.name for c in classes], [c.id for c in classes], {}, name)
    if name is None:
        empty.summary = summarize(empty, set())
        return empty
    q = (
        select(Video, Feature)
        .join(Feature, Feature.video_id == Video.id)
        .where(Video.deleted_at.is_(None), Feature.extractor == name)
        .order_by(Video.id)
    )
    if video_ids is not None:
        chosen = Video.id.in_(video_ids)
        # the validation set stays whole whatever videos a training names
        q = q.where(or_(chosen, Video.is_validation.is_(True)) if labelled_only else chosen)
    rows = list(session.execute(q))
    ids = [v.id for v, _ in rows]

    labels: dict[int, set[int]] = defaultdict(set)
    annotators: set[int] = set()
    label_q = select(VideoLabel.video_id, VideoLabel.class_id, VideoLabel.annotator_id).where(
        VideoLabel.video_id.in_(ids)
    )
    click_q = select(Click).where(Click.video_id.in_(ids), Click.deleted_at.is_(None))
    if annotator_id is not None:
        label_q = label_q.where(VideoLabel.annotator_id == annotator_id)
        click_q = click_q.where(Click.annotator_id == annotator_id)
    if approved_only:
        label_q = label_q.where(approved_clause(VideoLabel.video_id, VideoLabel.annotator_id))
        click_q = click_q.where(approved_clause(Click.video_id, Click.annotator_id))
    for vid, cid, uid in session.execute(label_q):
        if cid in index:
            labels[vid].add(index[cid])
            annotators.add(uid)
    clicks: dict[int, list[Click]] = defaultdict(list)
    for click in session.scalars(click_q):
        if click.class_id is None or click.class_id in index:
            clicks[click.video_id].append(click)
    gt = ground_truth_of(session, ids, index, annotator_id)

    items: list[VideoItem] = []
    validation: list[VideoItem] = []
    ground_truth: dict[str, list[GtSegment]] = {}
    names: dict[str, int] = {}
    validation_without_gt = 0
    for video, feat in rows:
        held_out = labelled_only and video.is_validation
        if held_out and not gt.get(video.id):
            validation_without_gt += 1  # nothing to measure on: not part of the set
            continue
        T, C = feat.num_snippets, len(classes)
        bg: set[int] = set()
        action: set[tuple[int, int]] = set()
        present = set(labels[video.id])
        for c in clicks[video.id]:
            snips = _snippets(c.t_s, c.end_s, video.duration_s, T)
            if c.kind == ClickKind.background:
                bg.update(snips)
            elif c.class_id is not None:
                present.add(index[c.class_id])
                action.update((s, index[c.class_id]) for s in snips)
        segments = gt.get(video.id, [])
        if held_out:
            present.update(g.class_index for g in segments)  # its classes are known
        elif labelled_only and not present:
            continue
        if not held_out:
            annotators.update(c.annotator_id for c in clicks[video.id])
        multi_hot = np.zeros(C, dtype=np.float32)
        multi_hot[sorted(present)] = 1.0
        features = (
            load_npy(storage, feat.path).astype(np.float32, copy=False)
            if load_features and storage is not None
            else np.zeros((T, 0), dtype=np.float32)
        )
        (validation if held_out else items).append(
            VideoItem(
                name=video.name,
                features=features,
                labels=multi_hot,
                fps=video.fps,
                duration=video.duration_s,
                frame_num=video.frame_count,
                bg_clicks=np.array(sorted(bg), dtype=np.int64),
                action_clicks=np.array(sorted(action), dtype=np.int64).reshape(-1, 2),
                gt_segments=[(g.start_s, g.end_s, g.class_index) for g in segments] or None,
            )
        )
        if segments:
            ground_truth[video.name] = segments
        names[video.name] = video.id
    data = Dataset(
        items,
        [c.name for c in classes],
        [c.id for c in classes],
        names,
        name,
        validation=validation,
        ground_truth=ground_truth,
    )
    data.summary = summarize(data, annotators, session)
    data.summary["validation_videos_without_segments"] = validation_without_gt
    data.summary["approved_only"] = approved_only
    return data


def summarize(
    data: Dataset, annotator_ids: set[int], session: Session | None = None
) -> dict[str, Any]:
    names: list[str] = []
    if session is not None and annotator_ids:
        names = sorted(session.scalars(select(User.name).where(User.id.in_(annotator_ids))))
    return {
        "videos": len(data.items),
        "background_clicks": data.background_clicks,
        "action_clicks": data.action_clicks,
        "annotators": names,
        "classes": data.class_names,
        "extractor": data.extractor,
        "videos_with_ground_truth": sum(1 for it in data.items if it.gt_segments),
        "validation_videos": len(data.validation),
        "validation_segments": int(sum(len(it.gt_segments or []) for it in data.validation)),
    }
