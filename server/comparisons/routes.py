from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from server.auth import AdminUser, SessionDep
from server.comparisons import service
from server.comparisons.schemas import ComparisonOut, ComparisonRequest
from server.config import Settings
from server.jobs.schemas import JobOut
from server.models import Job

router = APIRouter(tags=["comparisons"])


def _out(job: Job) -> ComparisonOut:
    return ComparisonOut(job=JobOut.model_validate(job), result=job.metrics)


@router.post("/comparisons", response_model=ComparisonOut, status_code=status.HTTP_202_ACCEPTED)
def create_comparison(
    body: ComparisonRequest, request: Request, user: AdminUser, session: SessionDep
) -> ComparisonOut:
    """Queue a comparison job: weak vs bg-click (and action-click, both) on the same videos,
    recipe and seed, measured on the validation set, with a learning curve (422 without a
    validation set; 409 while another comparison runs, unless ``queue`` is true)."""
    settings: Settings = request.app.state.settings
    return _out(service.create_comparison(session, settings, user, body))


@router.get("/comparisons", response_model=list[ComparisonOut])
def list_comparisons(
    _: AdminUser, session: SessionDep, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> list[ComparisonOut]:
    """Newest first."""
    return [_out(j) for j in service.list_comparisons(session, limit)]


@router.get("/comparisons/{job_id}", response_model=ComparisonOut)
def get_comparison(job_id: int, _: AdminUser, session: SessionDep) -> ComparisonOut:
    return _out(service.get_comparison(session, job_id))
