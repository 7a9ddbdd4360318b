from __future__ import annotations

import json
import mimetypes
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from server.auth import AdminUser, CurrentUser, SessionDep
from server.config import Settings
from server.errors import NotFound
from server.videos import service
from server.videos.schemas import (
    RegisterRequest,
    RegisterResult,
    VideoDetail,
    VideoOut,
    VideoPage,
    video_detail,
)
from server.videos.upload import multipart_body, receive_upload

router = APIRouter(tags=["videos"])


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.post(
    "/videos",
    response_model=VideoOut,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=multipart_body(title={"type": "string", "maxLength": 255}),
    responses={200: {"description": "The same content was uploaded before: that video."}},
)
async def upload_video(
    request: Request, response: Response, user: CurrentUser, session: SessionDep
) -> VideoOut:
    """Upload a video (multipart ``file``, optional ``title``), streamed and size-limited."""
    settings = _settings(request)
    upload = await receive_upload(request, settings.media_dir / "tmp", settings.max_upload_bytes)
    try:
        assert upload.tmp_path is not None and upload.filename is not None
        probe = await run_in_threadpool(service.probe_or_422, upload.tmp_path, upload.filename)
        stored = await run_in_threadpool(
            service.store_upload, session, settings.media_dir, upload, probe, user
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
    return VideoPage(
        items=[video_detail(v, feats.get(v.id)) for v in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post("/videos/register", response_model=RegisterResult, status_code=201)
def register_videos(
    body: RegisterRequest, request: Request, user: AdminUser, session: SessionDep
) -> RegisterResult:
    """Add video files that are already inside the media folder (all or nothing)."""
    created, existing = service.register_files(
        session, _settings(request).media_dir, body.paths, user
    )
    return RegisterResult(
        created=[VideoOut.model_validate(v) for v in created],
        existing=[VideoOut.model_validate(v) for v in existing],
    )


@router.get("/videos/{video_id}", response_model=VideoDetail)
def get_video(video_id: int, _: CurrentUser, session: SessionDep) -> VideoDetail:
    video = service.get_live_video(session, video_id)
    return video_detail(video, service.features_of(session, [video_id]).get(video_id))


@router.get(
    "/videos/{video_id}/proxy",
    response_class=FileResponse,
    responses={206: {"description": "Partial content (HTTP range request)."}},
)
def get_proxy(video_id: int, request: Request, _: CurrentUser, session: SessionDep) -> FileResponse:
    """The browser-playable H.264 proxy (range requests supported)."""
    video = service.get_live_video(session, video_id)
    path = service.media_file(_settings(request).media_dir, video, "proxy")
    return FileResponse(path, media_type="video/mp4", content_disposition_type="inline")


@router.get("/videos/{video_id}/thumbnails")
def get_thumbnails(
    video_id: int, request: Request, _: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    """The thumbnail sprite's index: tile size, columns, the time of every tile."""
    video = service.get_live_video(session, video_id)
    path = service.media_file(_settings(request).media_dir, video, "thumbnails")
    index: dict[str, Any] = json.loads(path.read_text())
    index["sprite_url"] = f"/api/v1/videos/{video_id}/thumbnails.jpg"
    index["times_s"] = index.get("times", [])
    return index


@router.get("/videos/{video_id}/thumbnails.jpg", response_class=FileResponse)
def get_thumbnail_sprite(
    video_id: int, request: Request, _: CurrentUser, session: SessionDep
) -> FileResponse:
    video = service.get_live_video(session, video_id)
    index = service.media_file(_settings(request).media_dir, video, "thumbnails")
    sprite = index.with_suffix(".jpg")
    if not sprite.is_file():
        raise NotFound(f"the thumbnail sprite of video {video_id} is missing")
    return FileResponse(sprite, media_type="image/jpeg")


@router.get(
    "/videos/{video_id}/file",
    response_class=FileResponse,
    responses={206: {"description": "Partial content (HTTP range request)."}},
)
def get_video_file(
    video_id: int, request: Request, _: CurrentUser, session: SessionDep
) -> FileResponse:
    """The original file; supports ``Range`` requests (206) for seeking."""
    video = service.get_live_video(session, video_id)
    path = service.file_path(_settings(request).media_dir, video)
    media_type = mimetypes.guess_type(video.original_name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, content_disposition_type="inline")


@router.delete("/videos/{video_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_video(video_id: int, _: AdminUser, session: SessionDep) -> Response:
    service.delete_video(session, video_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
