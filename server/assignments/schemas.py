"""Assignments and review: the API's shapes (separate from the ORM)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from server.clicks.schemas import ClickOut
from server.models import AssignmentState, Role
from server.schemas import Schema, UtcDatetime
from server.segments.schemas import SegmentOut
from server.suggestions.schemas import FlaggedClickOut

Comment = Annotated[str, Field(max_length=2000)]


class AssignmentOut(Schema):
    id: int
    video_id: int
    video_title: str
    video_name: str
    annotator_id: int
    annotator_name: str
    state: AssignmentState
    assigned_by: int | None = Field(description="Who assigned it (the annotator: claimed).")
    reviewer_id: int | None = Field(description="Who reviewed it last.")
    reviewer_name: str | None
    comment: str | None = Field(description="The last review's comment (or the submit note).")
    created_at: UtcDatetime
    updated_at: UtcDatetime
    submitted_at: UtcDatetime | None
    reviewed_at: UtcDatetime | None


class AssignmentEventOut(Schema):
    from_state: AssignmentState | None = Field(description="None: the assignment was created.")
    to_state: AssignmentState
    actor_id: int | None
    actor_name: str | None
    comment: str | None
    created_at: UtcDatetime


class AssignmentDetail(AssignmentOut):
    events: list[AssignmentEventOut] = Field(description="Every state change, oldest first.")


class AssignmentList(Schema):
    total: int
    limit: int
    offset: int
    items: list[AssignmentOut]


class AssignRequest(Schema):
    """Who gets which videos: exactly one of ``video_ids`` (each chosen video to each
    annotator), ``unassigned_count`` or ``unassigned_fraction`` (that many of the videos
    nobody is assigned to, oldest first, dealt out to the annotators in turn)."""

    annotator_ids: list[int] = Field(min_length=1, max_length=1000)
    video_ids: list[int] | None = Field(default=None, min_length=1, max_length=100_000)
    unassigned_count: int | None = Field(default=None, ge=1, le=100_000)
    unassigned_fraction: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _one_choice(self) -> AssignRequest:
        chosen = [
            n
            for n in ("video_ids", "unassigned_count", "unassigned_fraction")
            if getattr(self, n) is not None
        ]
        if len(chosen) != 1:
            raise ValueError(
                "send exactly one of video_ids, unassigned_count or unassigned_fraction"
            )
        return self


class AssignResult(Schema):
    created: list[AssignmentOut]
    already: list[AssignmentOut] = Field(description="Pairs that were assigned before.")
    unassigned_left: int = Field(description="Videos nobody is assigned to after this.")


class SubmitIn(Schema):
    comment: Comment | None = Field(default=None, description="A note for the reviewer.")


class ReviewIn(Schema):
    comment: Comment | None = Field(
        default=None, description="Required to return work: what to change."
    )


class NextIn(Schema):
    after: int | None = Field(default=None, description="The video the caller is on.")


class NextOut(Schema):
    workflow: bool = Field(
        description="Assignments decide the caller's next video (they have assignments, or "
        "the queue is open); false: choose freely (GET /videos/next's rule)."
    )
    video_id: int | None
    assignment: AssignmentOut | None
    claimed: bool = Field(description="The video came from the queue and is now the caller's.")
    message: str


class AnnotatorProgress(Schema):
    annotator_id: int
    annotator_name: str
    role: Role
    active: bool
    states: dict[AssignmentState, int]
    total: int


class ProgressOut(Schema):
    annotators: list[AnnotatorProgress]
    states: dict[AssignmentState, int] = Field(description="Every annotator together.")
    videos: int = Field(description="Live videos.")
    unassigned_videos: int = Field(description="Live videos nobody is assigned to.")
    queue_open: bool = Field(description="BACKTAL_ASSIGNMENT_QUEUE: N claims unassigned videos.")


class LabelOut(Schema):
    class_id: int
    class_name: str


class WorkOut(Schema):
    """One annotator's work on one video, as a reviewer sees it."""

    assignment: AssignmentDetail
    duration_s: float
    fps: float
    clicks: list[ClickOut]
    labels: list[LabelOut]
    segments: list[SegmentOut]
    flag_model_version_id: int | None = Field(
        description="The active model version whose confident segments flag clicks (click QA)."
    )
    flags: list[FlaggedClickOut] = Field(
        description="Click QA: this work's background clicks inside a confident predicted "
        "segment or inside imported ground truth (kept ones included, marked)."
    )
