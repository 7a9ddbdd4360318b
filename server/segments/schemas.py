"""Segments: the API's shapes (separate from the ORM)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from server.models import SegmentSource
from server.schemas import Schema, UtcDatetime

Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class SegmentIn(Schema):
    class_id: int = Field(description="The action class of the segment.")
    start_s: Seconds = Field(description="Start in seconds on the original video.")
    end_s: Seconds = Field(description="End in seconds on the original video (> start_s).")
    client_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Idempotency key: resending the same key returns the stored segment.",
    )


class SegmentPatch(Schema):
    """Any of the three; what is left out stays as it is."""

    class_id: int | None = None
    start_s: Seconds | None = None
    end_s: Seconds | None = None

    @model_validator(mode="after")
    def _something(self) -> SegmentPatch:
        if self.class_id is None and self.start_s is None and self.end_s is None:
            raise ValueError("send at least one of class_id, start_s, end_s")
        return self


class SegmentOut(Schema):
    id: int
    video_id: int
    annotator_id: int
    class_id: int
    start_s: float
    end_s: float
    source: SegmentSource
    model_version_id: int | None
    prediction_score: float | None
    predicted_start_s: float | None
    predicted_end_s: float | None
    client_key: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    deleted: bool = False


def segment_out(segment: object) -> SegmentOut:
    out = SegmentOut.model_validate(segment)
    out.deleted = getattr(segment, "deleted_at", None) is not None
    return out


class AcceptRequest(Schema):
    """Which predicted segments of a model version to accept (one of the three ways)."""

    model_version: str = Field(
        default="active", max_length=32, description="'active' or a model version id."
    )
    prediction_ids: list[int] | None = Field(
        default=None, min_length=1, max_length=10_000, description="These predicted segments."
    )
    at_s: Seconds | None = Field(
        default=None,
        description="The best-scoring predicted segment containing this time (of class_id "
        "when given).",
    )
    class_id: int | None = Field(
        default=None, description="With min_score: every predicted segment of this class."
    )
    min_score: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="With class_id: only predicted segments scoring at least this.",
    )

    @model_validator(mode="after")
    def _one_way(self) -> AcceptRequest:
        ways = [
            self.prediction_ids is not None,
            self.at_s is not None,
            self.min_score is not None,
        ]
        if sum(ways) != 1:
            raise ValueError(
                "send exactly one of prediction_ids, at_s (the segment under a time) or "
                "class_id with min_score (all of a class above a score)"
            )
        if self.min_score is not None and self.class_id is None:
            raise ValueError("min_score needs a class_id (all segments of that class)")
        return self


class AcceptResult(Schema):
    model_version_id: int
    created: list[SegmentOut] = Field(description="New segments (source = prediction).")
    already_accepted: list[SegmentOut] = Field(
        description="Predicted segments the caller had accepted before (not stored twice)."
    )
