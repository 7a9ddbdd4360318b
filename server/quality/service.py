"""Per-annotator quality (docs/guided.md): throughput, flagged share, share inside GT, and
video-label agreement between annotators (pure maths in ``agreement.py``).

Seconds per click is the **median** of ``client_elapsed_ms`` (the annotate page's time since
the annotator's previous action): it measures working time, and a median is not moved by a
coffee break. ``created_at`` gaps are not used: they mix in time spent on other videos and
sessions, and imported clicks share one ``created_at``.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import case, func, select, union
from sqlalchemy.orm import Session

from server.config import Settings
from server.models import ActionClass, Click, ClickKind, User, Video, VideoLabel
from server.quality.agreement import label_agreement, median_seconds
from server.quality.schemas import (
    AgreementOut,
    AnnotatorQuality,
    ClassAgreement,
    PairAgreementOut,
    QualityOut,
)
from server.suggestions.flags import scan_clicks
from server.training.service import resolve_version


def annotator_quality(session: Session, settings: Settings, which: str) -> QualityOut:
    version = resolve_version(session, which)
    live = Video.deleted_at.is_(None)
    counts: dict[int, tuple[int, int]] = {
        int(uid): (int(n), int(bg or 0))
        for uid, n, bg in session.execute(
            select(
                Click.annotator_id,
                func.count(Click.id),
                func.sum(case((Click.kind == ClickKind.background, 1), else_=0)),
            )
            .join(Video, Video.id == Click.video_id)
            .where(Click.deleted_at.is_(None), live)
            .group_by(Click.annotator_id)
        )
    }
    elapsed: dict[int, list[float]] = defaultdict(list)
    for uid, ms in session.execute(
        select(Click.annotator_id, Click.client_elapsed_ms)
        .join(Video, Video.id == Click.video_id)
        .where(Click.deleted_at.is_(None), live, Click.client_elapsed_ms.is_not(None))
    ):
        elapsed[int(uid)].append(float(ms or 0))
    touched = union(
        select(Click.annotator_id.label("uid"), Click.video_id.label("vid"))
        .join(Video, Video.id == Click.video_id)
        .where(Click.deleted_at.is_(None), live),
        select(VideoLabel.annotator_id.label("uid"), VideoLabel.video_id.label("vid"))
        .join(Video, Video.id == VideoLabel.video_id)
        .where(live),
    ).subquery()
    videos = {
        int(uid): int(n)
        for uid, n in session.execute(select(touched.c.uid, func.count()).group_by(touched.c.uid))
    }
    scan = scan_clicks(session, settings, version)
    flagged: dict[int, int] = defaultdict(int)
    for f in scan.flagged:
        if not f.kept:
            flagged[f.annotator_id] += 1

    labels: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    for uid, vid, cid in session.execute(
        select(VideoLabel.annotator_id, VideoLabel.video_id, VideoLabel.class_id)
        .join(Video, Video.id == VideoLabel.video_id)
        .where(live)
    ):
        labels[int(uid)][int(vid)].add(int(cid))
    classes = list(
        session.execute(select(ActionClass.id, ActionClass.name).order_by(ActionClass.id))
    )
    agreement = label_agreement(labels, [int(c) for c, _ in classes])

    ids = set(counts) | set(videos)
    users = {
        u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)).order_by(User.id))
    }
    rows = []
    for uid in sorted(ids):
        n, bg = counts.get(uid, (0, 0))
        on_gt = scan.on_gt_videos.get(uid, 0)
        rows.append(
            AnnotatorQuality(
                annotator_id=uid,
                name=users[uid].name,
                role=str(users[uid].role),
                clicks=n,
                background_clicks=bg,
                videos=videos.get(uid, 0),
                seconds_per_click=median_seconds(elapsed.get(uid, [])),
                timed_clicks=len(elapsed.get(uid, [])),
                flagged=flagged.get(uid, 0),
                flagged_share=flagged.get(uid, 0) / bg if bg else None,
                inside_gt=scan.inside_gt.get(uid, 0) if on_gt else None,
                inside_gt_share=scan.inside_gt.get(uid, 0) / on_gt if on_gt else None,
            )
        )
    names = {u.id: u.name for u in users.values()}
    return QualityOut(
        model_version_id=version.id if version is not None else None,
        annotators=rows,
        agreement=AgreementOut(
            videos=agreement.videos,
            mean_jaccard=agreement.mean_jaccard,
            classes=[
                ClassAgreement(class_id=c, class_name=name, kappa=agreement.kappa[c])
                for c, name in classes
            ],
            pairs=[
                PairAgreementOut(
                    annotator_ids=list(p.annotators),
                    names=[names.get(a, str(a)) for a in p.annotators],
                    videos=p.videos,
                    mean_jaccard=p.mean_jaccard,
                )
                for p in agreement.pairs
            ],
        ),
    )
