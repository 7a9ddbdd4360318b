"""The adapter between rows and :mod:`model.suggest` for the predict job (no queries elsewhere).

The predict job ranks suggestions for every video right after inference, with the
per-snippet arrays it has in memory (normalised CAS, video scores, segments, both branches'
foreground beliefs), the video's background clicks at that moment (every annotator's) and
its video-level labels (union; ``None`` when nobody labelled it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from model.suggest import REASONS, SuggestConfig
from model.suggest import Suggestion as RankedMoment
from server.config import Settings
from server.models import Click, ClickKind, Suggestion


def suggest_config(settings: Settings) -> SuggestConfig:
    return SuggestConfig(
        max_suggestions=settings.suggest_per_video,
        min_spacing_s=settings.suggest_min_spacing_s,
        click_radius_s=settings.suggest_click_radius_s,
        min_score=settings.suggest_min_score,
        weights={r: 1.0 if r in settings.suggest_reason_set else 0.0 for r in REASONS},
    )


def background_click_times(session: Session, video_ids: Sequence[int]) -> dict[int, list[float]]:
    """Live background clicks of every annotator, per video (seconds)."""
    times: dict[int, list[float]] = defaultdict(list)
    if not video_ids:
        return times
    for vid, t in session.execute(
        select(Click.video_id, Click.t_s).where(
            Click.video_id.in_(list(video_ids)),
            Click.kind == ClickKind.background,
            Click.deleted_at.is_(None),
        )
    ):
        times[int(vid)].append(float(t))
    return times


def model_labels(
    multi_hot: np.ndarray, data_class_names: Sequence[str], model_class_names: Sequence[str]
) -> set[int] | None:
    """The video's labels as the model's class indices; None when it has none at all."""
    present = {data_class_names[int(i)] for i in np.flatnonzero(multi_hot > 0)}
    if not present:
        return None
    return {c for c, name in enumerate(model_class_names) if name in present}


def replace_suggestions(
    session: Session,
    version_id: int,
    ranked: dict[int, list[RankedMoment]],
    class_ids: Sequence[int],
) -> int:
    """Store the ranked moments of these videos for the version (replacing earlier ones).

    ``class_ids``: model class index → ``action_classes.id``. Returns the number stored.
    """
    if ranked:
        session.execute(
            delete(Suggestion).where(
                Suggestion.model_version_id == version_id,
                Suggestion.video_id.in_(list(ranked)),
            )
        )
    count = 0
    for vid, moments in ranked.items():
        for rank, m in enumerate(moments):
            session.add(
                Suggestion(
                    model_version_id=version_id,
                    video_id=vid,
                    rank=rank,
                    t_s=round(m.t_s, 3),
                    score=round(m.score, 4),
                    reason=m.reason,
                    class_id=class_ids[m.class_index] if m.class_index is not None else None,
                )
            )
            count += 1
    return count
