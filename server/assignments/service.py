"""Assignments and review: who annotates which video, and where each piece of work stands.

One ``Assignment`` per (video, annotator); its state moves only along these edges, each
recorded as an ``AssignmentEvent`` (who, when, from, to, comment)::

    assigned → new ─work/start─▶ in_progress ─submit─▶ submitted     (claimed → in_progress)
    submitted ─approve─▶ approved        submitted | approved ─return─▶ returned
    returned ─work/start─▶ in_progress

*Work* is any write of the annotator's own clicks, labels or segments on the video
(:func:`server.assignments.work.note_work`, called by those services): it moves ``new``
and ``returned`` to ``in_progress``, and is refused (409) while the work is ``submitted``
or ``approved`` — a reviewer decides on work that does not change under them. Anything
else is refused with a sentence: 409 for a state that does not allow the step, 403 for a
caller who may not take it, 422 for a return without a comment.

Reviewers (and admins) review; a reviewer never reviews their own work (an admin may: a
lab of one). The work itself stays in clicks, labels and segments: an assignment only says
whose work on which video is where, and Retrain's ``approved_only`` keeps only the
(video, annotator) pairs whose assignment is approved.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session, aliased

from server.clicks.schemas import click_out
from server.config import Settings
from server.errors import Conflict, Forbidden, NotFound, Unprocessable
from server.models import (
    ActionClass,
    Assignment,
    AssignmentEvent,
    AssignmentState,
    Click,
    Role,
    Segment,
    User,
    Video,
    VideoLabel,
    VideoStatus,
    utcnow,
)
from server.segments.schemas import segment_out
from server.suggestions.flags import scan_clicks
from server.training.service import resolve_version

from .schemas import (
    AnnotatorProgress,
    AssignmentDetail,
    AssignmentEventOut,
    AssignmentList,
    AssignmentOut,
    AssignRequest,
    AssignResult,
    LabelOut,
    NextOut,
    ProgressOut,
    WorkOut,
)
from .work import record

S = AssignmentState
WORDS = {
    S.new: "new",
    S.in_progress: "in progress",
    S.submitted: "submitted",
    S.approved: "approved",
    S.returned: "returned",
}
OPEN = (S.new, S.in_progress, S.returned)  # the annotator still has to do something
LOCKED = (S.submitted, S.approved)  # the annotator's own writes are refused
# Next (N): what a reviewer sent back first, then what was started, then what is new
NEXT_ORDER = {S.returned: 0, S.in_progress: 1, S.new: 2}

# action → (states it leaves from, state it leads to, who takes it)
TRANSITIONS: dict[str, tuple[tuple[AssignmentState, ...], AssignmentState, str]] = {
    "start": ((S.new, S.returned), S.in_progress, "annotator"),
    "submit": ((S.in_progress,), S.submitted, "annotator"),
    "approve": ((S.submitted,), S.approved, "reviewer"),
    "return": ((S.submitted, S.approved), S.returned, "reviewer"),
}


def may_review(user: User) -> bool:
    return user.role in (Role.reviewer, Role.admin)


# ------------------------------------------------------------------------ reading


def _rows(session: Session, where: list[Any]) -> Any:
    reviewer = aliased(User)
    annotator = aliased(User)
    return (
        select(Assignment, Video.title, Video.name, annotator.name, reviewer.name)
        .join(Video, Video.id == Assignment.video_id)
        .join(annotator, annotator.id == Assignment.annotator_id)
        .outerjoin(reviewer, reviewer.id == Assignment.reviewer_id)
        .where(Video.deleted_at.is_(None), *where)
    )


def _out(row: Any) -> AssignmentOut:
    a, title, name, who, reviewer = row
    return AssignmentOut(
        id=a.id,
        video_id=a.video_id,
        video_title=title,
        video_name=name,
        annotator_id=a.annotator_id,
        annotator_name=who,
        state=a.state,
        assigned_by=a.assigned_by,
        reviewer_id=a.reviewer_id,
        reviewer_name=reviewer,
        comment=a.comment,
        created_at=a.created_at,
        updated_at=a.updated_at,
        submitted_at=a.submitted_at,
        reviewed_at=a.reviewed_at,
    )


def _one(session: Session, assignment_id: int) -> AssignmentOut:
    row = session.execute(_rows(session, [Assignment.id == assignment_id])).first()
    if row is None:
        raise NotFound(f"assignment {assignment_id} does not exist (or its video was deleted)")
    return _out(row)


def _visible(user: User, a: AssignmentOut) -> None:
    if a.annotator_id != user.id and not may_review(user):
        raise Forbidden(f"assignment {a.id} is {a.annotator_name}'s: annotators see only their own")


def list_assignments(
    session: Session,
    user: User,
    *,
    state: AssignmentState | None,
    annotator_id: int | None,
    video_id: int | None,
    limit: int,
    offset: int,
) -> AssignmentList:
    """Assignments, oldest video first: an annotator's own; a reviewer's or admin's any."""
    if not may_review(user):
        if annotator_id is not None and annotator_id != user.id:
            raise Forbidden("annotators see only their own assignments")
        annotator_id = user.id
    where: list[Any] = []
    if state is not None:
        where.append(Assignment.state == state)
    if annotator_id is not None:
        where.append(Assignment.annotator_id == annotator_id)
    if video_id is not None:
        where.append(Assignment.video_id == video_id)
    q = _rows(session, where)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.execute(
        q.order_by(Assignment.video_id, Assignment.annotator_id).limit(limit).offset(offset)
    )
    return AssignmentList(total=total, limit=limit, offset=offset, items=[_out(r) for r in rows])


def _events(session: Session, assignment_id: int) -> list[AssignmentEventOut]:
    rows = session.execute(
        select(AssignmentEvent, User.name)
        .outerjoin(User, User.id == AssignmentEvent.actor_id)
        .where(AssignmentEvent.assignment_id == assignment_id)
        .order_by(AssignmentEvent.id)
    )
    return [
        AssignmentEventOut(
            from_state=e.from_state,
            to_state=e.to_state,
            actor_id=e.actor_id,
            actor_name=name,
            comment=e.comment,
            created_at=e.created_at,
        )
        for e, name in rows
    ]


def get_detail(session: Session, user: User, assignment_id: int) -> AssignmentDetail:
    a = _one(session, assignment_id)
    _visible(user, a)
    return AssignmentDetail(**a.model_dump(), events=_events(session, assignment_id))


def mine_on_video(session: Session, user: User, video_id: int) -> AssignmentDetail | None:
    """The caller's assignment on a video, with its history (the annotate page's bar)."""
    found = session.scalar(
        select(Assignment.id).where(
            Assignment.video_id == video_id, Assignment.annotator_id == user.id
        )
    )
    return get_detail(session, user, found) if found is not None else None


def mine_by_video(session: Session, user_id: int, video_ids: list[int]) -> dict[int, AssignmentOut]:
    """The user's assignments on these videos, by video (the video list's column)."""
    if not video_ids:
        return {}
    rows = session.execute(
        _rows(session, [Assignment.annotator_id == user_id, Assignment.video_id.in_(video_ids)])
    )
    return {a.video_id: a for a in map(_out, rows)}


def next_open_video(session: Session, user_id: int, after: int | None = None) -> int | None:
    """The user's next open assignment's video (returned first, then in progress, then
    new; after ``after`` in list order, wrapping), without claiming anything."""
    rows = list(
        session.execute(
            select(Assignment.video_id, Assignment.state)
            .join(Video, Video.id == Assignment.video_id)
            .where(
                Assignment.annotator_id == user_id,
                Assignment.state.in_(OPEN),
                Video.deleted_at.is_(None),
            )
        )
    )
    by_video = {int(v): st for v, st in rows if v != after}
    if not by_video:
        return None
    order = _after_first(sorted(by_video), after)
    return min(order, key=lambda v: (NEXT_ORDER[by_video[v]], order.index(v)))


# ------------------------------------------------------------------------ assigning


def _create(
    session: Session, video_id: int, annotator_id: int, by: User, state: AssignmentState
) -> Assignment:
    now = utcnow()
    a = Assignment(
        video_id=video_id,
        annotator_id=annotator_id,
        state=state,
        assigned_by=by.id,
        created_at=now,
        updated_at=now,
    )
    session.add(a)
    session.flush()
    record(session, a.id, None, state, by.id)
    return a


def _unassigned() -> Any:
    """Live videos that can be annotated and that nobody is assigned to (a WHERE clause)."""
    return and_(
        Video.deleted_at.is_(None),
        Video.status != VideoStatus.failed,
        ~exists().where(Assignment.video_id == Video.id),
    )


def _count_unassigned(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Video).where(_unassigned())) or 0)


def assign(session: Session, admin: User, body: AssignRequest) -> AssignResult:
    """Assign chosen videos to every chosen annotator, or deal out a share of the videos
    nobody is assigned to (oldest first, one annotator each, in turn). All or nothing."""
    wanted = list(dict.fromkeys(body.annotator_ids))
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))}
    missing = [str(i) for i in wanted if i not in users]
    if missing:
        raise NotFound(f"user {', '.join(missing)} does not exist")
    inactive = [users[i].name for i in wanted if not users[i].active]
    if inactive:
        raise Unprocessable(
            f"{', '.join(inactive)} is deactivated: reactivate the account before assigning"
        )
    pairs: list[tuple[int, int]]
    if body.video_ids is not None:
        vids = list(dict.fromkeys(body.video_ids))
        live = set(
            session.scalars(select(Video.id).where(Video.id.in_(vids), Video.deleted_at.is_(None)))
        )
        gone = [str(v) for v in vids if v not in live]
        if gone:
            raise NotFound(f"video {', '.join(gone)} does not exist (or was deleted)")
        pairs = [(v, u) for v in vids for u in wanted]
    else:
        available = _count_unassigned(session)
        if body.unassigned_count is not None:
            n = min(body.unassigned_count, available)
        else:
            n = math.ceil((body.unassigned_fraction or 0.0) * available - 1e-9)
        if available == 0:
            raise Unprocessable(
                "every video is assigned to someone already: choose videos by id to add "
                "annotators to them"
            )
        vids = list(
            session.scalars(select(Video.id).where(_unassigned()).order_by(Video.id).limit(n))
        )
        pairs = [(v, wanted[i % len(wanted)]) for i, v in enumerate(vids)]
    existing = {
        (a.video_id, a.annotator_id): a.id
        for a in session.scalars(
            select(Assignment).where(
                Assignment.video_id.in_({v for v, _ in pairs}),
                Assignment.annotator_id.in_(wanted),
            )
        )
    }
    created = [_create(session, v, u, admin, S.new).id for v, u in pairs if (v, u) not in existing]
    already = [existing[p] for p in pairs if p in existing]
    return AssignResult(
        created=[_one(session, i) for i in created],
        already=[_one(session, i) for i in already],
        unassigned_left=_count_unassigned(session),
    )


def unassign(session: Session, assignment_id: int) -> None:
    """Remove an assignment that is not under review or approved (its work stays)."""
    a = session.get(Assignment, assignment_id)
    if a is None:
        raise NotFound(f"assignment {assignment_id} does not exist")
    if a.state in LOCKED:
        raise Conflict(
            f"assignment {assignment_id} is {WORDS[a.state]}: return it first "
            "(POST /assignments/{id}/return), then remove it"
        )
    session.delete(a)
    session.flush()


# ------------------------------------------------------------------------ transitions


def transition(
    session: Session, user: User, assignment_id: int, action: str, comment: str | None
) -> AssignmentDetail:
    """Take one step of the state machine (``TRANSITIONS``), checked and recorded."""
    sources, target, who = TRANSITIONS[action]
    a = session.get(Assignment, assignment_id)
    if a is None:
        raise NotFound(f"assignment {assignment_id} does not exist")
    video = session.get(Video, a.video_id)
    if video is None or video.deleted_at is not None:
        raise NotFound(f"assignment {assignment_id}'s video was deleted")
    owner = session.get(User, a.annotator_id)
    owner_name = owner.name if owner is not None else str(a.annotator_id)
    if who == "annotator" and a.annotator_id != user.id:
        raise Forbidden(f"only {owner_name} can {action} their work on {video.title!r}")
    if who == "reviewer":
        if not may_review(user):
            raise Forbidden(f"to {action} work needs the reviewer or admin role")
        if a.annotator_id == user.id and user.role != Role.admin:
            raise Forbidden("a reviewer does not review their own work: ask another reviewer")
    comment = (comment or "").strip() or None
    if a.state not in sources:
        raise Conflict(_refusal(a, action, sources))
    if action == "return" and comment is None:
        raise Unprocessable(f"say what to change: returning {owner_name}'s work needs a comment")
    now = utcnow()
    before = a.state
    a.state = target
    a.updated_at = now
    if action == "submit":
        a.submitted_at = now
    if who == "reviewer":
        a.reviewer_id = user.id
        a.reviewed_at = now
        a.comment = comment
    session.flush()
    record(session, a.id, before, target, user.id, comment)
    return get_detail(session, user, a.id)


PAST = {"start": "started", "submit": "submitted", "approve": "approved", "return": "returned"}
HINTS = {
    S.new: "work on it (or start it) first",
    S.in_progress: "submit it first",
    S.submitted: "it waits for a reviewer",
    S.approved: "a reviewer must return it before it can change",
    S.returned: "work on it again (or start it), then submit it",
}


def _refusal(a: Assignment, action: str, sources: tuple[AssignmentState, ...]) -> str:
    allowed = " or ".join(WORDS[s] for s in sources)
    return (
        f"assignment {a.id} is {WORDS[a.state]}: only {allowed} work can be {PAST[action]}; "
        f"{HINTS[a.state]}"
    )


# ------------------------------------------------------------------------ next (N)


def _after_first(ids: list[int], after: int | None) -> list[int]:
    if after is None:
        return ids
    return [i for i in ids if i > after] + [i for i in ids if i < after]


def next_for(session: Session, settings: Settings, user: User, after: int | None) -> NextOut:
    """The caller's next video: their open assignments (returned, then in progress, then
    new; after ``after`` in list order, wrapping), else — with the queue open — the next
    video nobody is assigned to, claimed (a new assignment, in progress)."""
    mine = session.scalar(
        select(
            exists().where(
                Assignment.annotator_id == user.id,
                Assignment.video_id == Video.id,
                Video.deleted_at.is_(None),
            )
        )
    )
    queue = settings.assignment_queue
    if not mine and not queue:
        return NextOut(
            workflow=False,
            video_id=None,
            assignment=None,
            claimed=False,
            message="nothing is assigned to you and the queue is closed: any video will do",
        )
    best = next_open_video(session, user.id, after)
    if best is not None:
        a = mine_by_video(session, user.id, [best])[best]
        return NextOut(
            workflow=True,
            video_id=best,
            assignment=a,
            claimed=False,
            message=f"your next assigned video ({WORDS[a.state]})",
        )
    if queue:
        claimed = _claim(session, user, after)
        if claimed is not None:
            a = _one(session, claimed.id)
            return NextOut(
                workflow=True,
                video_id=a.video_id,
                assignment=a,
                claimed=True,
                message="claimed from the queue: it is yours now",
            )
    return NextOut(
        workflow=True,
        video_id=None,
        assignment=None,
        claimed=False,
        message="nothing left for you: every video assigned to you is submitted or approved"
        + (", and the queue is empty" if queue else ""),
    )


def _claim(session: Session, user: User, after: int | None) -> Assignment | None:
    """Claim the next unassigned video (after ``after``, wrapping). PostgreSQL: the
    candidate is locked (SKIP LOCKED: concurrent claimers take different videos) and
    checked again once locked; SQLite: the request's write transaction serializes."""
    base = select(Video.id).where(_unassigned())
    queries = [base]
    if after is not None:
        base = base.where(Video.id != after)
        queries = [base.where(Video.id > after), base]
    postgres = session.get_bind().dialect.name == "postgresql"
    for _ in range(20):  # others may claim the candidates first
        found = None
        for q in queries:
            q = q.order_by(Video.id).limit(1)
            found = session.scalar(q.with_for_update(skip_locked=True) if postgres else q)
            if found is not None:
                break
        if found is None:
            return None
        if session.scalar(select(exists().where(Assignment.video_id == found))):
            continue  # claimed by someone else just before the lock: the next one
        return _create(session, int(found), user.id, user, S.in_progress)
    return None


# ------------------------------------------------------------------------ progress, work


def progress(session: Session, settings: Settings) -> ProgressOut:
    """Per annotator and state: how many assignments (live videos only)."""
    counts: dict[int, dict[AssignmentState, int]] = defaultdict(lambda: dict.fromkeys(S, 0))
    totals = dict.fromkeys(S, 0)
    for uid, state, n in session.execute(
        select(Assignment.annotator_id, Assignment.state, func.count())
        .join(Video, Video.id == Assignment.video_id)
        .where(Video.deleted_at.is_(None))
        .group_by(Assignment.annotator_id, Assignment.state)
    ):
        counts[uid][state] = int(n)
        totals[state] += int(n)
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(list(counts))))}
    rows = [
        AnnotatorProgress(
            annotator_id=uid,
            annotator_name=users[uid].name,
            role=users[uid].role,
            active=users[uid].active,
            states=c,
            total=sum(c.values()),
        )
        for uid, c in sorted(counts.items(), key=lambda kv: users[kv[0]].name)
    ]
    videos = session.scalar(
        select(func.count()).select_from(Video).where(Video.deleted_at.is_(None))
    )
    return ProgressOut(
        annotators=rows,
        states=totals,
        videos=int(videos or 0),
        unassigned_videos=_count_unassigned(session),
        queue_open=settings.assignment_queue,
    )


def work(session: Session, settings: Settings, user: User, assignment_id: int) -> WorkOut:
    """What a reviewer reviews: the annotator's live clicks, video labels and segments on
    the video, and click QA's flags of those clicks under the active model version."""
    detail = get_detail(session, user, assignment_id)
    video = session.get(Video, detail.video_id)
    assert video is not None  # _one checked it is live
    vid, uid = detail.video_id, detail.annotator_id
    clicks = session.scalars(
        select(Click)
        .where(Click.video_id == vid, Click.annotator_id == uid, Click.deleted_at.is_(None))
        .order_by(Click.t_s, Click.id)
    )
    labels = session.execute(
        select(ActionClass.id, ActionClass.name)
        .join(VideoLabel, VideoLabel.class_id == ActionClass.id)
        .where(VideoLabel.video_id == vid, VideoLabel.annotator_id == uid)
        .order_by(ActionClass.id)
    )
    segments = session.scalars(
        select(Segment)
        .where(Segment.video_id == vid, Segment.annotator_id == uid, Segment.deleted_at.is_(None))
        .order_by(Segment.start_s, Segment.id)
    )
    version = resolve_version(session, "active")
    scan = scan_clicks(session, settings, version, annotator_id=uid, video_id=vid)
    return WorkOut(
        assignment=detail,
        duration_s=video.duration_s,
        fps=video.fps,
        clicks=[click_out(c) for c in clicks],
        labels=[LabelOut(class_id=i, class_name=n) for i, n in labels],
        segments=[segment_out(s) for s in segments],
        flag_model_version_id=version.id if version is not None else None,
        flags=scan.flagged,
    )
