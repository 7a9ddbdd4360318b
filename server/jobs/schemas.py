from __future__ import annotations

from typing import Any

from server.models import JobKind, JobStatus
from server.schemas import Schema, UtcDatetime


class JobOut(Schema):
    id: int
    kind: JobKind
    status: JobStatus
    params: dict[str, Any]
    progress: float
    message: str | None
    log_tail: str
    metrics: dict[str, Any] | None
    attempts: int
    max_attempts: int
    error: str | None
    worker_id: str | None
    cancel_requested: bool
    video_id: int | None
    model_version_id: int | None
    created_by: int | None
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    heartbeat_at: UtcDatetime | None
    finished_at: UtcDatetime | None
