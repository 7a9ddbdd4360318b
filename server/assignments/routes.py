from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from server.assignments import service
from server.assignments.schemas import (
    AssignmentDetail,
    AssignmentList,
    AssignRequest,
    AssignResult,
    NextIn,
    NextOut,
    ProgressOut,
    ReviewIn,
    SubmitIn,
    WorkOut,
)
from server.auth import AdminUser, CurrentUser, ReviewerUser, SessionDep
from server.models import AssignmentState

router = APIRouter(tags=["assignments"])


@router.get("/assignments", response_model=AssignmentList)
def list_assignments(
    user: CurrentUser,
    session: SessionDep,
    state: AssignmentState | None = None,
    annotator_id: Annotated[
        int | None, Query(description="Reviewers and admins: one annotator's")
    ] = None,
    video_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AssignmentList:
    """Assignments in video order (an annotator: their own; reviewers and admins: all)."""
    return service.list_assignments(
        session,
        user,
        state=state,
        annotator_id=annotator_id,
        video_id=video_id,
        limit=limit,
        offset=offset,
    )


@router.post("/assignments", response_model=AssignResult, status_code=status.HTTP_201_CREATED)
def assign(body: AssignRequest, user: AdminUser, session: SessionDep) -> AssignResult:
    """Assign chosen videos to annotators, or deal out a share of the unassigned videos."""
    return service.assign(session, user, body)


@router.get("/assignments/progress", response_model=ProgressOut)
def progress(request: Request, _: AdminUser, session: SessionDep) -> ProgressOut:
    """How many assignments each annotator has in each state, and how many videos are
    unassigned."""
    return service.progress(session, request.app.state.settings)


@router.post("/assignments/next", response_model=NextOut)
def next_assignment(
    request: Request, user: CurrentUser, session: SessionDep, body: NextIn | None = None
) -> NextOut:
    """The caller's next video (``N``): their open assignments first (returned, in
    progress, new), else — BACKTAL_ASSIGNMENT_QUEUE — the next unassigned video, claimed."""
    after = body.after if body is not None else None
    return service.next_for(session, request.app.state.settings, user, after)


@router.get("/assignments/{assignment_id}", response_model=AssignmentDetail)
def get_assignment(assignment_id: int, user: CurrentUser, session: SessionDep) -> AssignmentDetail:
    """One assignment with every state change (the annotator's own; reviewers, admins: any)."""
    return service.get_detail(session, user, assignment_id)


@router.delete("/assignments/{assignment_id}", status_code=status.HTTP_204_NO_CONTENT)
def unassign(assignment_id: int, _: AdminUser, session: SessionDep) -> Response:
    """Remove an assignment that is not submitted or approved (the work stays)."""
    service.unassign(session, assignment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/assignments/{assignment_id}/work", response_model=WorkOut)
def get_work(
    assignment_id: int, request: Request, user: CurrentUser, session: SessionDep
) -> WorkOut:
    """The work under review: clicks, labels and segments of the annotator on the video,
    and click QA's flags of those clicks (the annotator's own; reviewers, admins: any)."""
    return service.work(session, request.app.state.settings, user, assignment_id)


@router.post("/assignments/{assignment_id}/start", response_model=AssignmentDetail)
def start(assignment_id: int, user: CurrentUser, session: SessionDep) -> AssignmentDetail:
    """new or returned → in progress, without a change (any change of the work does it too)."""
    return service.transition(session, user, assignment_id, "start", None)


@router.post("/assignments/{assignment_id}/submit", response_model=AssignmentDetail)
def submit(
    assignment_id: int, user: CurrentUser, session: SessionDep, body: SubmitIn | None = None
) -> AssignmentDetail:
    """in progress → submitted (the assignee only); the work is then read-only to them."""
    comment = body.comment if body is not None else None
    return service.transition(session, user, assignment_id, "submit", comment)


@router.post("/assignments/{assignment_id}/approve", response_model=AssignmentDetail)
def approve(
    assignment_id: int, user: ReviewerUser, session: SessionDep, body: ReviewIn | None = None
) -> AssignmentDetail:
    """submitted → approved (a reviewer or an admin), with an optional comment."""
    comment = body.comment if body is not None else None
    return service.transition(session, user, assignment_id, "approve", comment)


@router.post("/assignments/{assignment_id}/return", response_model=AssignmentDetail)
def return_work(
    assignment_id: int, user: ReviewerUser, session: SessionDep, body: ReviewIn | None = None
) -> AssignmentDetail:
    """submitted or approved → returned (a reviewer or an admin), with a comment saying
    what to change."""
    comment = body.comment if body is not None else None
    return service.transition(session, user, assignment_id, "return", comment)
