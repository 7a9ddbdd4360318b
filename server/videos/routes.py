from __future__ import annotations

import json
import mimetypes
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from server.auth import AdminUser, CurrentUser, SessionDep
from server.config import Settings
from server.errors import NotFound, Unprocessable
from server.predictions.service import prediction_sources
from server.storage import LocalStorage, ObjectNotFound, Storage
from server.storage.serve import serve_object
from server.uploads.access import Uploader
from server.videos import service
from server.videos.schemas import (
    RegisterFailure,
    RegisterRequest,
    RegisterResult,
    VideoDetail,
    VideoOut,
    VideoPage,
    VideoPatch,
    video_detail,
)
from server.videos.upload import multipart_body, receive_upload

router = APIRouter(tags=["videos"])


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


def _serve(request: Request, key: str, media_type: str, missing: str) -> Response:
    settings = _settings(request)
    return serve_object(
        _storage(request),
        key,
        request,
        media_type=media_type,
        delivery=settings.s3_delivery,
        expires_s=settings.s3_presign_expires_s,
        missing=missing,
    )


@router.post(
    "/videos",
    response_model=VideoOut,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=multipart_body(title={"type": "string", "maxLength": 255}),
    responses={200: {"description": "The same content was uploaded before: that video."}},
)
async def upload_video(
    request: Request, response: Response, user: Uploader, session: SessionDep
) -> VideoOut:
    """Upload a video (multipart ``file``, optional ``title``), streamed and size-limited
    (roles: BACKTAL_UPLOAD_ROLES). Browsers upload resumably through ``/uploads`` (tus)."""
    settings = _settings(request)
    upload = await receive_upload(request, settings.media_dir / "tmp", settings.max_upload_bytes)
    try:
        assert upload.tmp_path is not None and upload.filename is not None
        probe = await run_in_threadpool(service.probe_or_422, upload.tmp_path, upload.filename)
        stored = await run_in_threadpool(
            service.store_upload, session, _storage(request), upload, probe, user
        )
    finally:
        upload.discard()
    if not stored.created:
        response.status_code = status.HTTP_200_OK
    return VideoOut.model_validate(stored.video)


@router.get("/videos", response_model=VideoPage)
def list_videos(
    _: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> VideoPage:
    rows, total = service.list_videos(session, limit, offset)
    feats = service.features_of(session, [v.id for v in rows])
    sources = prediction_sources(session, [v.id for v in rows])
    return VideoPage(
        items=[video_detail(v, feats.get(v.id), sources.get(v.id)) for v in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post("/videos/register", response_model=RegisterResult, status_code=201)
def register_videos(
    body: RegisterRequest, request: Request, user: AdminUser, session: SessionDep
) -> RegisterResult:
    """Add videos that are already in storage: ``paths`` in the local media folder (all or
    nothing), or every new object under a bucket ``prefix`` (bucket import; objects that are
    no usable video are listed as failed, the rest imported; re-running adds only new ones).
    New videos get their proxy, thumbnails and features as uploads do."""
    storage, settings = _storage(request), _settings(request)
    if body.paths is not None:
        if not isinstance(storage, LocalStorage):
            raise Unprocessable(
                "'paths' names files in a local media folder, but the storage is "
                f"{storage!r}: send 'prefix' to import objects from the bucket"
            )
        created, existing = service.register_files(session, storage.root, body.paths, user)
        failed: list[RegisterFailure] = []
    else:
        assert body.prefix is not None
        scratch = settings.media_dir / "tmp"
        outcome = service.register_prefix(
            session, storage, body.prefix, user, scratch, max_bytes=settings.max_upload_bytes
        )
        created, existing = outcome.created, outcome.existing
        failed = [RegisterFailure(key=k, reason=r) for k, r in outcome.failed]
    return RegisterResult(
        created=[VideoOut.model_validate(v) for v in created],
        existing=[VideoOut.model_validate(v) for v in existing],
        failed=failed,
    )


@router.get("/videos/{video_id}", response_model=VideoDetail)
def get_video(video_id: int, _: CurrentUser, session: SessionDep) -> VideoDetail:
    video = service.get_live_video(session, video_id)
    return video_detail(
        video,
        service.features_of(session, [video_id]).get(video_id),
        prediction_sources(session, [video_id]).get(video_id),
    )


@router.patch("/videos/{video_id}", response_model=VideoDetail)
def patch_video(video_id: int, body: VideoPatch, _: AdminUser, session: SessionDep) -> VideoDetail:
    """Admin: mark a video as a validation video (``is_validation``) or back."""
    video = service.set_validation(session, video_id, body.is_validation)
    return video_detail(video, service.features_of(session, [video_id]).get(video_id))


@router.get(
    "/videos/{video_id}/proxy",
    response_class=FileResponse,
    responses={
        206: {"description": "Partial content (HTTP range request)."},
        307: {"description": "S3 storage with BACKTAL_S3_DELIVERY=redirect: a presigned URL."},
    },
)
def get_proxy(video_id: int, request: Request, _: CurrentUser, session: SessionDep) -> Response:
    """The browser-playable H.264 proxy (range requests supported)."""
    video = service.get_live_video(session, video_id)
    key = service.media_key(video, "proxy")
    return _serve(request, key, "video/mp4", f"the proxy of video {video_id} is missing")


@router.get("/videos/{video_id}/thumbnails")
def get_thumbnails(
    video_id: int, request: Request, _: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    """The thumbnail sprite's index: tile size, columns, the time of every tile."""
    video = service.get_live_video(session, video_id)
    key = service.media_key(video, "thumbnails")
    try:
        index: dict[str, Any] = json.loads(_storage(request).read_bytes(key))
    except ObjectNotFound:
        raise NotFound(f"the thumbnails of video {video_id} are missing") from None
    index["sprite_url"] = f"/api/v1/videos/{video_id}/thumbnails.jpg"
    index["times_s"] = index.get("times", [])
    return index


@router.get("/videos/{video_id}/thumbnails.jpg", response_class=FileResponse)
def get_thumbnail_sprite(
    video_id: int, request: Request, _: CurrentUser, session: SessionDep
) -> Response:
    video = service.get_live_video(session, video_id)
    index = service.media_key(video, "thumbnails")
    sprite = index.rsplit(".", 1)[0] + ".jpg"
    return _serve(
        request, sprite, "image/jpeg", f"the thumbnail sprite of video {video_id} is missing"
    )


@router.get(
    "/videos/{video_id}/file",
    response_class=FileResponse,
    responses={206: {"description": "Partial content (HTTP range request)."}},
)
def get_video_file(
    video_id: int, request: Request, _: CurrentUser, session: SessionDep
) -> Response:
    """The original file; supports ``Range`` requests (206) for seeking."""
    video = service.get_live_video(session, video_id)
    key = service.file_key(video)
    media_type = mimetypes.guess_type(video.original_name)[0] or "application/octet-stream"
    return _serve(
        request, key, media_type, f"the file of video {video_id} is missing on the server"
    )


@router.delete("/videos/{video_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_video(video_id: int, _: AdminUser, session: SessionDep) -> Response:
    service.delete_video(session, video_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
