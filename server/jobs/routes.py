from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from server.auth import AdminUser, CurrentUser, SessionDep
from server.jobs import service
from server.jobs.schemas import JobOut
from server.models import JobKind, JobStatus

router = APIRouter(tags=["jobs"])


@router.get("/jobs", response_model=list[JobOut])
def list_jobs(
    _: CurrentUser,
    session: SessionDep,
    kind: JobKind | None = None,
    status: JobStatus | None = None,
    video_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JobOut]:
    """Newest first."""
    rows = service.list_jobs(session, kind=kind, status=status, video_id=video_id, limit=limit)
    return [JobOut.model_validate(j) for j in rows]


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: int, _: CurrentUser, session: SessionDep) -> JobOut:
    return JobOut.model_validate(service.get_job(session, job_id))


@router.post("/jobs/{job_id}/cancel", response_model=JobOut)
def cancel_job(job_id: int, _: AdminUser, session: SessionDep) -> JobOut:
    return JobOut.model_validate(service.request_cancel(session, job_id))
