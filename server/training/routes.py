from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.concurrency import run_in_threadpool

from server.auth import AdminUser, CurrentUser, SessionDep
from server.config import Settings
from server.exports.dataset import parse_class_ids
from server.jobs.schemas import JobOut
from server.training import service
from server.training.schemas import (
    ActivationOut,
    GroundTruthImportResult,
    GroundTruthOut,
    ModelVersionOut,
    TrainingRequest,
    VideoPredictions,
)
from server.videos.service import get_live_video
from server.videos.upload import multipart_body, receive_file_bytes

router = APIRouter(tags=["training"])


@router.post("/training-jobs", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED)
def create_training_job(
    body: TrainingRequest, request: Request, user: AdminUser, session: SessionDep
) -> JobOut:
    """Queue a training job (409 while another runs, unless ``queue`` is true)."""
    settings: Settings = request.app.state.settings
    return JobOut.model_validate(service.create_training_job(session, settings, user, body))


@router.get("/model-versions", response_model=list[ModelVersionOut])
def list_model_versions(_: CurrentUser, session: SessionDep) -> list[ModelVersionOut]:
    return [ModelVersionOut.model_validate(v) for v in service.list_versions(session)]


@router.get("/model-versions/{version_id}", response_model=ModelVersionOut)
def get_model_version(version_id: int, _: CurrentUser, session: SessionDep) -> ModelVersionOut:
    return ModelVersionOut.model_validate(service.get_version(session, version_id))


@router.post("/model-versions/{version_id}/activate", response_model=ActivationOut)
def activate_model_version(
    version_id: int, request: Request, user: AdminUser, session: SessionDep
) -> ActivationOut:
    """Make the version the active one; queues a predict job of every video (with
    progress) unless its predictions already exist for every video with its features."""
    settings: Settings = request.app.state.settings
    version, job, missing, note = service.activate(
        session,
        version_id,
        user=user,
        max_attempts=settings.job_max_attempts,
        storage=request.app.state.storage,
    )
    return ActivationOut(
        **ModelVersionOut.model_validate(version).model_dump(),
        predict_job=JobOut.model_validate(job) if job is not None else None,
        videos_without_predictions=missing,
        note=note,
    )


@router.get("/videos/{video_id}/predictions", response_model=VideoPredictions)
def get_predictions(
    video_id: int, _: CurrentUser, session: SessionDep, model_version: str = "active"
) -> VideoPredictions:
    """Segments and activation curves of a video under ``active`` or a version id."""
    get_live_video(session, video_id)
    return service.video_predictions(session, video_id, model_version)


@router.get("/export/predictions")
def export_predictions(
    _: CurrentUser,
    session: SessionDep,
    model_version: str = "active",
    min_score: Annotated[
        float | None, Query(description="Keep segments scoring at least this.")
    ] = None,
    class_ids: Annotated[
        list[str] | None, Query(description="Only these classes (comma-separated or repeated).")
    ] = None,
) -> dict[str, Any]:
    """ActivityNet result JSON (``python -m model.cli eval --pred`` reads it) of every video
    the version predicted, optionally only segments scoring at least ``min_score`` and of
    some classes (an unknown class is a 404)."""
    return service.export_predictions(
        session, model_version, min_score=min_score, class_ids=parse_class_ids(class_ids)
    )


@router.get("/videos/{video_id}/ground-truth", response_model=list[GroundTruthOut])
def get_ground_truth(video_id: int, _: CurrentUser, session: SessionDep) -> list[GroundTruthOut]:
    get_live_video(session, video_id)
    return service.ground_truth(session, video_id)


@router.post(
    "/import/ground-truth", response_model=GroundTruthImportResult, openapi_extra=multipart_body()
)
async def import_ground_truth(
    request: Request, _: AdminUser, session: SessionDep
) -> GroundTruthImportResult:
    """ActivityNet-style ground truth, for evaluation only (never used to train)."""
    settings: Settings = request.app.state.settings
    upload = await receive_file_bytes(
        request, settings.media_dir / "tmp", settings.max_import_bytes
    )
    return await run_in_threadpool(service.import_ground_truth, session, upload.data)
