from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from server.auth import CurrentUser, SessionDep
from server.segments import service
from server.segments.schemas import (
    AcceptRequest,
    AcceptResult,
    SegmentIn,
    SegmentOut,
    SegmentPatch,
    segment_out,
)

router = APIRouter(tags=["segments"])


@router.post(
    "/videos/{video_id}/segments",
    response_model=SegmentOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "This client_key was seen before: the stored segment."}},
)
def create_segment(
    video_id: int, body: SegmentIn, user: CurrentUser, session: SessionDep, response: Response
) -> SegmentOut:
    """Draw a segment [start_s, end_s] of a class (times in seconds on the original video)."""
    segment, created = service.create_segment(session, video_id, user, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return segment_out(segment)


@router.get("/videos/{video_id}/segments", response_model=list[SegmentOut])
def list_segments(
    video_id: int,
    user: CurrentUser,
    session: SessionDep,
    annotator_id: Annotated[int | None, Query(description="Admin: one annotator's")] = None,
) -> list[SegmentOut]:
    """The caller's segments on a video in time order (admin: everyone's, or one's)."""
    return [segment_out(s) for s in service.list_segments(session, video_id, user, annotator_id)]


@router.patch("/segments/{segment_id}", response_model=SegmentOut)
def update_segment(
    segment_id: int, body: SegmentPatch, user: CurrentUser, session: SessionDep
) -> SegmentOut:
    """Move a segment's edges and/or change its class (own segments; admin: any)."""
    return segment_out(service.update_segment(session, segment_id, user, body))


@router.delete("/segments/{segment_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_segment(segment_id: int, user: CurrentUser, session: SessionDep) -> Response:
    """Soft delete (own segments; admin: any); ``POST …/restore`` undoes it."""
    service.delete_segment(session, segment_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/segments/{segment_id}/restore", response_model=SegmentOut)
def restore_segment(segment_id: int, user: CurrentUser, session: SessionDep) -> SegmentOut:
    """Undo a deletion."""
    return segment_out(service.restore_segment(session, segment_id, user))


@router.post(
    "/videos/{video_id}/segments/accept",
    response_model=AcceptResult,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "Nothing new was stored (none matched, or all accepted)."}},
)
def accept_predictions(
    video_id: int, body: AcceptRequest, user: CurrentUser, session: SessionDep, response: Response
) -> AcceptResult:
    """Accept a model version's predicted segments into the caller's segments: by id, the
    one under ``at_s``, or every one of ``class_id`` scoring at least ``min_score``."""
    result = service.accept_predictions(session, video_id, user, body)
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return result
