from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from server.models import VideoStatus
from server.predictions.schemas import PredictionSource
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
    is_validation: bool = Field(
        description="A validation video: never trains; its segments measure model versions."
    )
    created_at: UtcDatetime


class FeatureInfo(Schema):
    extractor: str
    T: int
    D: int


class VideoDetail(VideoOut):
    proxy: bool = Field(description="A browser-playable proxy exists (GET …/proxy).")
    thumbnails: bool = Field(description="A thumbnail sprite exists (GET …/thumbnails).")
    features: FeatureInfo | None
    predictions: PredictionSource | None = Field(
        default=None,
        description="Which model version the video's predictions come from (the list and "
        "GET /videos/{id} fill it).",
    )


def video_detail(
    video: Any, feature: Any | None, predictions: PredictionSource | None = None
) -> VideoDetail:
    return VideoDetail(
        **VideoOut.model_validate(video).model_dump(),
        predictions=predictions,
        proxy=video.proxy_path is not None,
        thumbnails=video.thumbnails_path is not None,
        features=(
            FeatureInfo(extractor=feature.extractor, T=feature.num_snippets, D=feature.dim)
            if feature is not None
            else None
        ),
    )


class VideoPatch(Schema):
    is_validation: bool = Field(
        description="Mark (true) or unmark (false) the video as a validation video."
    )


class VideoPage(Page):
    items: list[VideoDetail]


class RegisterRequest(Schema):
    paths: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="Local media folder only: files or folders relative to it (folders: "
        "their video files); all or nothing.",
    )
    prefix: str | None = Field(
        default=None,
        max_length=1024,
        description="Bucket import: every object under this key prefix of the storage (or "
        "an s3://bucket/prefix URL inside it) that is not a video yet; objects that are no "
        "usable video are listed in `failed`, the rest imported. '' = the whole storage.",
    )

    @model_validator(mode="after")
    def _one_of(self) -> RegisterRequest:
        if (self.paths is None) == (self.prefix is None):
            raise ValueError("send either 'paths' (media folder files) or 'prefix' (bucket import)")
        return self


class RegisterFailure(Schema):
    key: str
    reason: str


class RegisterResult(Schema):
    created: list[VideoOut]
    existing: list[VideoOut] = Field(
        description="Files or objects already registered (same key, or same content)."
    )
    failed: list[RegisterFailure] = Field(
        default_factory=list, description="Objects that were not imported, and why."
    )
