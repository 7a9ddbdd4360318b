"""Click QA: background clicks that fall inside a confident predicted segment of a model
version (score ≥ ``qa_min_score``) or inside imported ground truth are flagged, with the
reason (geometry: :func:`model.suggest.flag_click`). Flags are computed when asked, so a
click made after the prediction job is checked too; an admin's *keep* is stored per
version (``kept_clicks``), so that version does not flag the click again.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from model.suggest import ClickFlag, GTSegmentT, SegmentT, edge_distance, flag_click
from server.config import Settings
from server.errors import Forbidden, NotFound, Unprocessable
from server.models import (
    ActionClass,
    ActivationCurve,
    Click,
    ClickKind,
    GroundTruthSegment,
    KeptClick,
    ModelVersion,
    Prediction,
    Role,
    User,
    Video,
)
from server.suggestions.schemas import ClickFlagsOut, FlaggedClickOut, FlagOut, KeptClickOut
from server.training.service import resolve_version


@dataclass
class FlagScan:
    """Every live background click in scope, flagged or not (the quality table needs both)."""

    version: ModelVersion | None
    flagged: list[FlaggedClickOut]
    checked: dict[int, int]  # annotator id → background clicks checked
    inside_gt: dict[int, int]  # annotator id → clicks inside ground truth
    on_gt_videos: dict[int, int]  # annotator id → clicks on videos that have ground truth


def scan_clicks(
    session: Session,
    settings: Settings,
    version: ModelVersion | None,
    *,
    annotator_id: int | None = None,
    video_id: int | None = None,
) -> FlagScan:
    q = (
        select(Click, Video.title, User.name)
        .join(Video, Video.id == Click.video_id)
        .join(User, User.id == Click.annotator_id)
        .where(
            Click.kind == ClickKind.background,
            Click.deleted_at.is_(None),
            Video.deleted_at.is_(None),
        )
        .order_by(Click.video_id, Click.t_s, Click.id)
    )
    pq = select(
        Prediction.video_id,
        Prediction.start_s,
        Prediction.end_s,
        Prediction.class_id,
        Prediction.score,
    )
    gq = select(
        GroundTruthSegment.video_id,
        GroundTruthSegment.start_s,
        GroundTruthSegment.end_s,
        GroundTruthSegment.class_id,
    )
    if annotator_id is not None:
        q = q.where(Click.annotator_id == annotator_id)
    if video_id is not None:
        q = q.where(Click.video_id == video_id)
        pq = pq.where(Prediction.video_id == video_id)
        gq = gq.where(GroundTruthSegment.video_id == video_id)
    segments: dict[int, list[SegmentT]] = defaultdict(list)
    kept: set[int] = set()
    if version is not None:
        pq = pq.where(
            Prediction.model_version_id == version.id, Prediction.score >= settings.qa_min_score
        )
        for vid, a, b, c, sc in session.execute(pq):
            segments[vid].append((a, b, c, sc))
        kept = set(
            session.scalars(
                select(KeptClick.click_id).where(KeptClick.model_version_id == version.id)
            )
        )
    gt: dict[int, list[GTSegmentT]] = defaultdict(list)
    for vid, a, b, c in session.execute(gq):
        gt[vid].append((a, b, c))
    names = {int(i): str(n) for i, n in session.execute(select(ActionClass.id, ActionClass.name))}

    clicks = list(session.execute(q))
    curves = _curves(session, settings, version, segments, [c for c, _, _ in clicks])
    scan = FlagScan(version, [], defaultdict(int), defaultdict(int), defaultdict(int))
    for click, title, who in clicks:
        scan.checked[click.annotator_id] += 1
        flags = flag_click(
            click.t_s,
            segments.get(click.video_id, []),
            gt.get(click.video_id, []),
            min_score=settings.qa_min_score,
            margin_s=settings.qa_margin_s,
            min_activation=settings.qa_min_activation,
            activations=curves.get(click.video_id),
        )
        if click.video_id in gt:
            scan.on_gt_videos[click.annotator_id] += 1
            if any(f.reason == "inside_ground_truth" for f in flags):
                scan.inside_gt[click.annotator_id] += 1
        if not flags:
            continue
        scan.flagged.append(
            FlaggedClickOut(
                click_id=click.id,
                video_id=click.video_id,
                video_title=title,
                annotator_id=click.annotator_id,
                annotator_name=who,
                t_s=click.t_s,
                frame_index=click.frame_index,
                created_at=click.created_at,
                kept=click.id in kept,
                flags=[_flag_out(click.t_s, f, names) for f in flags],
            )
        )
    return scan


def _curves(
    session: Session,
    settings: Settings,
    version: ModelVersion | None,
    segments: dict[int, list[SegmentT]],
    clicks: list[Click],
) -> dict[int, dict[int, tuple[list[float], list[float]]]]:
    """The version's activation curves (class id → (times, values)) of the videos where a
    click lies inside a confident segment — only what ``qa_min_activation`` needs."""
    if settings.qa_min_activation is None or version is None:
        return {}
    covered = {
        c.video_id
        for c in clicks
        if flag_click(
            c.t_s,
            segments.get(c.video_id, []),
            min_score=settings.qa_min_score,
            margin_s=settings.qa_margin_s,
        )
    }
    if not covered:
        return {}
    rows = session.scalars(
        select(ActivationCurve).where(
            ActivationCurve.model_version_id == version.id,
            ActivationCurve.video_id.in_(sorted(covered)),
        )
    )
    return {
        row.video_id: {
            int(cid): (list(row.data["times_s"]), list(values))
            for cid, values in row.data.get("classes", {}).items()
        }
        for row in rows
    }


def _flag_out(t_s: float, flag: ClickFlag, names: dict[int, str]) -> FlagOut:
    depth_s, edge = edge_distance(t_s, flag.start_s, flag.end_s)
    return FlagOut(
        reason=flag.reason,
        class_id=flag.class_index,
        class_name=names.get(flag.class_index, "?"),
        start_s=flag.start_s,
        end_s=flag.end_s,
        score=flag.score,
        depth_s=round(depth_s, 6),
        nearest_edge=edge,
    )


def click_flags(
    session: Session,
    settings: Settings,
    user: User,
    which: str,
    *,
    annotator_id: int | None,
    video_id: int | None,
    include_kept: bool,
    limit: int,
    offset: int,
) -> ClickFlagsOut:
    """Flagged background clicks under a version: an annotator's own; an admin's any."""
    if user.role != Role.admin:
        if annotator_id is not None and annotator_id != user.id:
            raise Forbidden("annotators see only their own flagged clicks")
        annotator_id = user.id
    if video_id is not None and session.get(Video, video_id) is None:
        raise NotFound(f"video {video_id} does not exist")
    if annotator_id is not None and session.get(User, annotator_id) is None:
        raise NotFound(f"user {annotator_id} does not exist")
    version = resolve_version(session, which)
    scan = scan_clicks(session, settings, version, annotator_id=annotator_id, video_id=video_id)
    items = [f for f in scan.flagged if include_kept or not f.kept]
    return ClickFlagsOut(
        model_version_id=version.id if version is not None else None,
        min_score=settings.qa_min_score,
        margin_s=settings.qa_margin_s,
        min_activation=settings.qa_min_activation,
        total=len(items),
        items=items[offset : offset + limit],
    )


def keep_click(session: Session, user: User, click_id: int, which: str) -> KeptClickOut:
    """An admin keeps a flagged click: the version no longer flags it (idempotent)."""
    click = session.get(Click, click_id)
    if click is None or click.deleted_at is not None:
        raise NotFound(f"click {click_id} does not exist (or was deleted)")
    version = resolve_version(session, which)
    if version is None:
        raise Unprocessable("there is no active model version: a keep is recorded per version")
    if session.get(KeptClick, (click_id, version.id)) is None:
        session.add(KeptClick(click_id=click_id, model_version_id=version.id, kept_by=user.id))
        session.flush()
    return KeptClickOut(click_id=click_id, model_version_id=version.id)
