"""The one adapter between database rows and the trainer's inputs (``model.data``).

Rules (documented for users in the README):
- A video takes part when it is live, has features of the chosen extractor, and at least
  one annotator gave it a video-level label or an action click.
- Video-level labels of several annotators are merged by **union**: a class is present if
  any annotator says so (an action click of a class also says so). Clicks of every
  annotator are pooled; clicks that land on the same snippet count once.
- A click at ``t`` seconds lands on snippet ``min(T − 1, floor(t / duration · T))`` (the
  official rule); a click file's short span [t, end] marks every snippet it covers.
- Class index = position of the class in creation order (the API's ``index``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from model.data import VideoItem
from model.timebase import snippet_index
from server.models import (
    ActionClass,
    Click,
    ClickKind,
    Feature,
    GroundTruthSegment,
    User,
    Video,
    VideoLabel,
)
from server.storage import Storage
from server.storage.files import load_npy


@dataclass
class Dataset:
    items: list[VideoItem]
    class_names: list[str]
    class_ids: list[int]  # class index -> action_classes.id
    video_ids: dict[str, int]  # video name -> id
    extractor: str | None
    summary: dict[str, Any] = field(default_factory=dict)

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
) -> Dataset:
    """Videos with features as ``VideoItem`` s, with merged labels, clicks and GT segments.

    With ``labelled_only=False`` every video with features is included (for prediction).
    With ``load_features=False`` the arrays are not read (for counting and validation) and
    ``storage`` may be None; otherwise they are read from ``storage``.
    ``annotator_id`` keeps only that annotator's labels and clicks; ``class_ids`` keeps only
    those classes (index = position among them in creation order; labels, action clicks
    and GT segments of the other classes are left out). Both are used by the data-set export.
    """
    if load_features and storage is None:
        raise ValueError("build_dataset needs the storage to load features")
    class_q = select(ActionClass).order_by(ActionClass.id)
    if class_ids is not None:
        class_q = class_q.where(ActionClass.id.in_(class_ids))
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
        q = q.where(Video.id.in_(video_ids))
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
    for vid, cid, uid in session.execute(label_q):
        if cid in index:
            labels[vid].add(index[cid])
            annotators.add(uid)
    clicks: dict[int, list[Click]] = defaultdict(list)
    for click in session.scalars(click_q):
        if click.class_id is None or click.class_id in index:
            clicks[click.video_id].append(click)
    gt: dict[int, list[tuple[float, float, int]]] = defaultdict(list)
    for seg in session.scalars(
        select(GroundTruthSegment).where(GroundTruthSegment.video_id.in_(ids))
    ):
        if seg.class_id in index:
            gt[seg.video_id].append((seg.start_s, seg.end_s, index[seg.class_id]))

    items: list[VideoItem] = []
    names: dict[str, int] = {}
    for video, feat in rows:
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
        if labelled_only and not present:
            continue
        annotators.update(c.annotator_id for c in clicks[video.id])
        multi_hot = np.zeros(C, dtype=np.float32)
        multi_hot[sorted(present)] = 1.0
        features = (
            load_npy(storage, feat.path).astype(np.float32, copy=False)
            if load_features and storage is not None
            else np.zeros((T, 0), dtype=np.float32)
        )
        items.append(
            VideoItem(
                name=video.name,
                features=features,
                labels=multi_hot,
                fps=video.fps,
                duration=video.duration_s,
                frame_num=video.frame_count,
                bg_clicks=np.array(sorted(bg), dtype=np.int64),
                action_clicks=np.array(sorted(action), dtype=np.int64).reshape(-1, 2),
                gt_segments=gt.get(video.id),
            )
        )
        names[video.name] = video.id
    data = Dataset(items, [c.name for c in classes], [c.id for c in classes], names, name)
    data.summary = summarize(data, annotators, session)
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
    }
