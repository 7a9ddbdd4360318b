from __future__ import annotations

from typing import Annotated

from pydantic import Field

from server.models import ClickKind
from server.schemas import Page, Schema, UtcDatetime

Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class ClickIn(Schema):
    t_s: Seconds = Field(description="Time in seconds on the original video.")
    kind: ClickKind = ClickKind.background
    class_id: int | None = Field(default=None, description="Required for action clicks.")
    client_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Idempotency key: resending the same key returns the stored click.",
    )
    client_elapsed_ms: int | None = Field(
        default=None, ge=0, le=86_400_000, description="Time since the annotator's last action."
    )
    while_playing: bool | None = None


class ClickOut(Schema):
    id: int
    video_id: int
    annotator_id: int
    t_s: float
    end_s: float | None
    frame_index: int
    kind: ClickKind
    class_id: int | None
    client_key: str | None
    client_elapsed_ms: int | None
    while_playing: bool | None
    created_at: UtcDatetime
    deleted: bool = False


class ClickPage(Page):
    items: list[ClickOut]


def click_out(click: object) -> ClickOut:
    out = ClickOut.model_validate(click)
    out.deleted = getattr(click, "deleted_at", None) is not None
    return out
