"""ORM models (SQLAlchemy 2). Only the schema lives here; queries live in the services.

The schema changes only through Alembic migrations in ``migrations/``.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class Role(enum.StrEnum):
    annotator = "annotator"
    admin = "admin"
    reviewer = "reviewer"  # approves or returns submitted work (server/assignments)


class VideoStatus(enum.StrEnum):
    uploaded = "uploaded"
    processing = "processing"
    ready = "ready"
    failed = "failed"


class ClickKind(enum.StrEnum):
    background = "background"
    action = "action"


class SegmentSource(enum.StrEnum):
    drawn = "drawn"  # drawn by the annotator
    prediction = "prediction"  # a model version's predicted segment, accepted (and maybe adjusted)


class AssignmentState(enum.StrEnum):
    """Where one annotator's work on one video stands (server/assignments/service.py)."""

    new = "new"  # assigned, not started
    in_progress = "in_progress"  # the annotator works on it (or works on it again)
    submitted = "submitted"  # waiting for a reviewer
    approved = "approved"  # a reviewer approved it (Retrain can train on approved work only)
    returned = "returned"  # a reviewer sent it back with a comment


class JobKind(enum.StrEnum):
    media = "media"
    features = "features"
    train = "train"
    predict = "predict"
    compare = "compare"  # "Does annotation pay here?": several trainings (server/comparisons)


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings with a CHECK constraint: portable and easy to migrate.
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=16)


TS = DateTime(timezone=True)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "user_role"))
    # sha256 of the bearer token; NULL for users created by an import (no login).
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    reaction_offset_ms: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class Video(Base):
    __tablename__ = "videos"
    __table_args__ = (
        # Names (used to match click files) and contents are unique among live videos.
        Index(
            "uq_videos_name_live",
            "name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index(
            "uq_videos_sha256_live",
            "sha256",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255))
    original_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # Relative to the media folder; never an absolute path.
    file_path: Mapped[str] = mapped_column(String(1024))
    fps: Mapped[float] = mapped_column(Float)
    frame_count: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[float] = mapped_column(Float)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    status: Mapped[VideoStatus] = mapped_column(
        _enum(VideoStatus, "video_status"), default=VideoStatus.uploaded
    )
    status_message: Mapped[str | None] = mapped_column(Text)
    proxy_path: Mapped[str | None] = mapped_column(String(1024))
    thumbnails_path: Mapped[str | None] = mapped_column(String(1024))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(TS)
    # A validation video never trains: its segments (imported GT or drawn) measure versions.
    is_validation: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )


class ActionClass(Base):
    __tablename__ = "action_classes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    # Retired: kept on record, hidden from keys and pickers, left out of training sets.
    retired_at: Mapped[datetime | None] = mapped_column(TS)


class VideoLabel(Base):
    """A video-level label: annotator says class is present in the video."""

    __tablename__ = "video_labels"

    video_id: Mapped[int] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    class_id: Mapped[int] = mapped_column(
        ForeignKey("action_classes.id", ondelete="CASCADE"), primary_key=True
    )
    annotator_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class Click(Base):
    __tablename__ = "clicks"
    __table_args__ = (
        UniqueConstraint("annotator_id", "client_key"),
        CheckConstraint("t_s >= 0", name="t_nonneg"),
        CheckConstraint("end_s IS NULL OR end_s >= t_s", name="end_after_start"),
        CheckConstraint(
            "(kind = 'action' AND class_id IS NOT NULL)"
            " OR (kind = 'background' AND class_id IS NULL)",
            name="kind_class",
        ),
        Index("ix_clicks_video_annotator", "video_id", "annotator_id"),
        Index("ix_clicks_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    t_s: Mapped[float] = mapped_column(Float)
    # A click is a point; click files may hold a short span [t_s, end_s].
    end_s: Mapped[float | None] = mapped_column(Float)
    frame_index: Mapped[int] = mapped_column(Integer)
    kind: Mapped[ClickKind] = mapped_column(_enum(ClickKind, "click_kind"))
    class_id: Mapped[int | None] = mapped_column(
        ForeignKey("action_classes.id", ondelete="RESTRICT")
    )
    client_key: Mapped[str | None] = mapped_column(String(128))
    # The COIN tool's "Time" column: how many times the annotator saved this click.
    save_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    client_elapsed_ms: Mapped[int | None] = mapped_column(Integer)
    while_playing: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(TS)

    video: Mapped[Video] = relationship(lazy="raise")


class Segment(Base):
    """An annotator's temporal segment [start_s, end_s) of a class on a video (full label).

    ``source`` says where it came from: drawn, or a model version's prediction accepted
    (``model_version_id``, ``prediction_score`` and the predicted edges recorded as they were
    accepted; the edges may be adjusted afterwards). Soft-deleted like clicks.
    """

    __tablename__ = "segments"
    __table_args__ = (
        UniqueConstraint("annotator_id", "client_key"),
        CheckConstraint("start_s >= 0", name="start_nonneg"),
        CheckConstraint("end_s > start_s", name="end_after_start"),
        Index("ix_segments_video_annotator", "video_id", "annotator_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    class_id: Mapped[int] = mapped_column(ForeignKey("action_classes.id", ondelete="RESTRICT"))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    source: Mapped[SegmentSource] = mapped_column(
        _enum(SegmentSource, "segment_source"), default=SegmentSource.drawn
    )
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    prediction_score: Mapped[float | None] = mapped_column(Float)
    # the predicted edges as accepted (the correction benchmark compares them with the final)
    predicted_start_s: Mapped[float | None] = mapped_column(Float)
    predicted_end_s: Mapped[float | None] = mapped_column(Float)
    client_key: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(TS)


class Feature(Base):
    """Per-snippet features of a video, stored as a .npy file (T, D)."""

    __tablename__ = "features"
    __table_args__ = (UniqueConstraint("video_id", "extractor"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    extractor: Mapped[str] = mapped_column(String(64))
    num_snippets: Mapped[int] = mapped_column(Integer)
    dim: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[JobKind] = mapped_column(_enum(JobKind, "job_kind"))
    status: Mapped[JobStatus] = mapped_column(
        _enum(JobStatus, "job_status"), default=JobStatus.queued
    )
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    progress: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    message: Mapped[str | None] = mapped_column(Text)
    log_tail: Mapped[str] = mapped_column(Text, default="", server_default="")
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    error: Mapped[str | None] = mapped_column(Text)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    cancel_requested: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    video_id: Mapped[int | None] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL", use_alter=True)
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(TS)
    heartbeat_at: Mapped[datetime | None] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS)


class ModelVersion(Base):
    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    supervision: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    class_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    checkpoint_path: Mapped[str] = mapped_column(String(1024))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    data_summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class Prediction(Base):
    __tablename__ = "predictions"
    __table_args__ = (Index("ix_predictions_version_video", "model_version_id", "video_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE")
    )
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    class_id: Mapped[int] = mapped_column(ForeignKey("action_classes.id", ondelete="CASCADE"))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)


class ActivationCurve(Base):
    """Class activation curves of one video under one model version (downsampled)."""

    __tablename__ = "activation_curves"

    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    video_id: Mapped[int] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    # {"times_s": [...], "classes": {"<class_id>": [...]}} (values in [0, 1])
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class GroundTruthSegment(Base):
    """Imported ground-truth action segments, used for evaluation only."""

    __tablename__ = "gt_segments"
    __table_args__ = (Index("ix_gt_segments_video", "video_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    class_id: Mapped[int] = mapped_column(ForeignKey("action_classes.id", ondelete="CASCADE"))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)


class SuggestionResponseKind(enum.StrEnum):
    answered = "answered"  # the annotator clicked background there
    passed = "passed"  # the annotator looked and moved on


class Suggestion(Base):
    """A moment where a background click would teach a model version most (model/suggest.py).

    Written by the predict job with the version's predictions; ``rank`` 0 is the best.
    """

    __tablename__ = "suggestions"
    __table_args__ = (Index("ix_suggestions_version_video", "model_version_id", "video_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE")
    )
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)
    t_s: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(32))
    class_id: Mapped[int | None] = mapped_column(
        ForeignKey("action_classes.id", ondelete="SET NULL")
    )


class SuggestionResponse(Base):
    """An annotator's answer to a suggestion: it is not offered to them again."""

    __tablename__ = "suggestion_responses"

    suggestion_id: Mapped[int] = mapped_column(
        ForeignKey("suggestions.id", ondelete="CASCADE"), primary_key=True
    )
    annotator_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    response: Mapped[SuggestionResponseKind] = mapped_column(
        _enum(SuggestionResponseKind, "suggestion_response")
    )
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class KeptClick(Base):
    """An admin reviewed a flagged click and kept it: that version does not flag it again."""

    __tablename__ = "kept_clicks"

    click_id: Mapped[int] = mapped_column(
        ForeignKey("clicks.id", ondelete="CASCADE"), primary_key=True
    )
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    kept_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class Assignment(Base):
    """One annotator's work on one video and where it stands in review.

    Created when an admin assigns the video or when the annotator claims it from the queue;
    the work itself stays in clicks, labels and segments. Every state change is an
    ``AssignmentEvent``.
    """

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("video_id", "annotator_id"),
        Index("ix_assignments_annotator_state", "annotator_id", "state"),
        Index("ix_assignments_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[AssignmentState] = mapped_column(
        _enum(AssignmentState, "assignment_state"), default=AssignmentState.new
    )
    # who assigned it (the annotator themselves when claimed from the queue)
    assigned_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    comment: Mapped[str | None] = mapped_column(Text)  # the last review's comment
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(TS)
    reviewed_at: Mapped[datetime | None] = mapped_column(TS)


class AssignmentEvent(Base):
    """A recorded state change of an assignment: who, when, from what to what, and why."""

    __tablename__ = "assignment_events"
    __table_args__ = (Index("ix_assignment_events_assignment", "assignment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    # None: the assignment was created (assigned or claimed)
    from_state: Mapped[AssignmentState | None] = mapped_column(
        _enum(AssignmentState, "assignment_from_state")
    )
    to_state: Mapped[AssignmentState] = mapped_column(_enum(AssignmentState, "assignment_to_state"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
