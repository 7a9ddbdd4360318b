from __future__ import annotations

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


class VideoPage(Page):
    items: list[VideoOut]


class RegisterRequest(Schema):
    paths: list[str] = Field(
        min_length=1,
        max_length=1000,
        description="Files or folders relative to the media folder (folders: their video files).",
    )


class RegisterResult(Schema):
    created: list[VideoOut]
    existing: list[VideoOut] = Field(description="Files whose content was already registered.")
