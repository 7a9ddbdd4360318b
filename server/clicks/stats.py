"""Per-annotator click and label statistics for the video list page.

Only *live* clicks count (``deleted_at IS NULL``). ``elapsed_ms`` sums the clicks' client
telemetry (``client_elapsed_ms``) and ``timed`` counts the clicks that carry it, so the mean
time per click is ``elapsed_ms / timed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from server.models import Click, Video, VideoLabel


@dataclass
class VideoClickStats:
    """One annotator's figures on one video."""

    clicks: int = 0
    elapsed_ms: int = 0
    timed: int = 0
    labels: int = 0


@dataclass(frozen=True)
class AnnotatorTotals:
    """One annotator's figures over all videos."""

    clicks: int
    elapsed_ms: int
    timed: int
    videos: int


def per_video_stats(
    session: Session, annotator_id: int, video_ids: Sequence[int]
) -> dict[int, VideoClickStats]:
    """For each of ``video_ids`` (zeros when there is nothing): the annotator's live clicks,
    the sum and count of their telemetry, and the annotator's video-level labels."""
    ids = list(video_ids)
    stats = {i: VideoClickStats() for i in ids}
    if not ids:
        return stats
    rows = session.execute(
        select(
            Click.video_id,
            func.count(Click.id),
            func.coalesce(func.sum(Click.client_elapsed_ms), 0),
            func.count(Click.client_elapsed_ms),
        )
        .where(
            Click.annotator_id == annotator_id, Click.deleted_at.is_(None), Click.video_id.in_(ids)
        )
        .group_by(Click.video_id)
    )
    for vid, n, elapsed, timed in rows:
        s = stats[vid]
        s.clicks, s.elapsed_ms, s.timed = int(n), int(elapsed or 0), int(timed)
    for vid, n in session.execute(
        select(VideoLabel.video_id, func.count())
        .where(VideoLabel.annotator_id == annotator_id, VideoLabel.video_id.in_(ids))
        .group_by(VideoLabel.video_id)
    ):
        stats[vid].labels = int(n)
    return stats


def annotator_totals(session: Session, annotator_id: int) -> AnnotatorTotals:
    """The annotator's live clicks over all videos (deleted videos included, as before), the
    sum and count of their telemetry and the number of distinct videos clicked."""
    n, elapsed, timed, videos = session.execute(
        select(
            func.count(Click.id),
            func.coalesce(func.sum(Click.client_elapsed_ms), 0),
            func.count(Click.client_elapsed_ms),
            func.count(func.distinct(Click.video_id)),
        ).where(Click.annotator_id == annotator_id, Click.deleted_at.is_(None))
    ).one()
    return AnnotatorTotals(
        clicks=int(n), elapsed_ms=int(elapsed or 0), timed=int(timed), videos=int(videos)
    )


def annotated_duration_s(session: Session, annotator_id: int) -> float:
    """Total duration (seconds) of the live videos that hold at least one live click of the
    annotator."""
    total = session.scalar(
        select(func.coalesce(func.sum(Video.duration_s), 0.0)).where(
            Video.deleted_at.is_(None),
            exists().where(
                Click.video_id == Video.id,
                Click.annotator_id == annotator_id,
                Click.deleted_at.is_(None),
            ),
        )
    )
    return float(total or 0.0)
