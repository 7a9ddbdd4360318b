"""The one hook the services that write an annotator's work call (clicks, labels, segments).

Kept apart from :mod:`server.assignments.service` so those services import nothing more
than the models: writing work on a submitted or approved assignment is refused; writing
work on a new or returned one moves it to in progress (recorded).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, exists, insert, select, update
from sqlalchemy.orm import Session

from server.errors import Conflict
from server.models import Assignment, AssignmentEvent, AssignmentState, User, utcnow

S = AssignmentState
Db = Session | Connection


def record(
    db: Db,
    assignment_id: int,
    from_state: AssignmentState | None,
    to_state: AssignmentState,
    actor_id: int | None,
    comment: str | None = None,
) -> None:
    """Record one state change of an assignment (who, when, from, to, why)."""
    db.execute(
        insert(AssignmentEvent).values(
            assignment_id=assignment_id,
            from_state=from_state,
            to_state=to_state,
            actor_id=actor_id,
            comment=comment,
            created_at=utcnow(),
        )
    )


def note_work(db: Db, video_id: int, user: User) -> None:
    """The caller writes their own clicks, labels or segments on a video: refuse while
    that work is submitted or approved; move new or returned work to in progress."""
    row = db.execute(
        select(Assignment.id, Assignment.state).where(
            Assignment.video_id == video_id, Assignment.annotator_id == user.id
        )
    ).first()
    if row is None or row.state == S.in_progress:
        return
    if row.state == S.submitted:
        raise Conflict(
            f"your work on video {video_id} is submitted for review: it can change again "
            "once a reviewer returns it"
        )
    if row.state == S.approved:
        raise Conflict(
            f"your work on video {video_id} was approved: ask a reviewer to return it "
            "before changing it"
        )
    db.execute(
        update(Assignment)
        .where(Assignment.id == row.id, Assignment.state == row.state)
        .values(state=S.in_progress, updated_at=utcnow())
    )
    record(db, row.id, row.state, S.in_progress, user.id)


class WorkStateChange(Exception):
    """A write of an annotator's work must go through :func:`note_work` first (its
    assignment is new, returned, submitted or approved): raised by the click route's
    one-statement path, which then takes the transactional one."""


def settled(video_id: Any, annotator_id: Any) -> Any:
    """A WHERE clause: writing this annotator's work on the video changes no assignment
    (they have none there, or it is in progress). The click INSERT carries it."""
    return ~exists().where(
        Assignment.video_id == video_id,
        Assignment.annotator_id == annotator_id,
        Assignment.state != S.in_progress,
    )


def approved_clause(video_col: Any, annotator_col: Any) -> Any:
    """A WHERE clause: the row's (video, annotator) work is approved."""
    return exists().where(
        Assignment.video_id == video_col,
        Assignment.annotator_id == annotator_col,
        Assignment.state == S.approved,
    )
