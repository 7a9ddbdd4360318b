from __future__ import annotations

from typing import Any

from pydantic import Field

from server.models import VideoStatus
from server.schemas import Page, Schema, UtcDatetime


class VideoOut(Schema):
    id: int
    name: str = Field(description="Unique among live videos; click files match on it.")
    title: str
    original_name: str
    fps: float
    frame_count: int
    duration_s: float
    width: int
    height: int
    size_bytes: int
    status: VideoStatus
    status_message: str | None
    created_at: UtcDatetime


class FeatureInfo(Schema):
    extractor: str
    T: int
    D: int


class VideoDetail(VideoOut):
    proxy: bool = Field(description="A browser-playable proxy exists (GET …/proxy).")
    thumbnails: bool = Field(description="A thumbnail sprite exists (GET …/thumbnails).")
    features: FeatureInfo | None


def video_detail(video: Any, feature: Any | None) -> VideoDetail:
    return VideoDetail(
        **VideoOut.model_validate(video).model_dump(),
        proxy=video.proxy_path is not None,
        thumbnails=video.thumbnails_path is not None,
        features=(
            FeatureInfo(extractor=feature.extractor, T=feature.num_snippets, D=feature.dim)
            if feature is not None
            else None
        ),
    )


class VideoPage(Page):
    items: list[VideoDetail]


class RegisterRequest(Schema):
    paths: list[str] = Field(
        min_length=1,
        max_length=1000,
        description="Files or folders relative to the media folder (folders: their video files).",
    )


class RegisterResult(Schema):
    created: list[VideoOut]
    existing: list[VideoOut] = Field(description="Files whose content was already registered.")
