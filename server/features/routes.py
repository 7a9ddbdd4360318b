from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from server.auth import AdminUser, SessionDep
from server.config import Settings
from server.features import service
from server.predictions import service as predictions
from server.videos.schemas import FeatureInfo
from server.videos.service import get_live_video
from server.videos.upload import multipart_body, receive_file_bytes

router = APIRouter(tags=["features"])


@router.post(
    "/videos/{video_id}/features",
    response_model=FeatureInfo,
    status_code=201,
    openapi_extra=multipart_body(
        extractor={"type": "string", "pattern": "^[A-Za-z0-9._+-]{1,64}$"}
    ),
)
async def import_features(
    video_id: int, request: Request, _: AdminUser, session: SessionDep
) -> FeatureInfo:
    """Attach pre-extracted features: ``.npy`` (T, D) or the official ``.npz`` layout.
    With an active model version, a predict job of the video is queued."""
    settings: Settings = request.app.state.settings
    upload = await receive_file_bytes(
        request, settings.media_dir / "tmp", settings.max_upload_bytes
    )
    default = "i3d-npz" if upload.filename.lower().endswith(".npz") else "imported"
    extractor = service.check_extractor_name(upload.fields.get("extractor") or default)
    parsed = await run_in_threadpool(service.read_feature_file, upload.data, upload.filename)

    def store() -> FeatureInfo:
        video = get_live_video(session, video_id)
        row = service.attach_features(
            session, request.app.state.storage, video, parsed.array, extractor
        )
        # the active model version predicts the video
        predictions.queue_for_videos(session, [video.id], max_attempts=settings.job_max_attempts)
        return FeatureInfo(extractor=row.extractor, T=row.num_snippets, D=row.dim)

    return await run_in_threadpool(store)
