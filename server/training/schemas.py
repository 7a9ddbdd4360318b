from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from server.jobs.schemas import JobOut
from server.schemas import Schema, UtcDatetime

Supervision = Literal["weak", "action-click", "bg-click", "both"]


class TrainingRequest(Schema):
    supervision: Supervision = "bg-click"
    recipe: Literal["studio", "published"] = Field(
        default="studio",
        description="Where every setting starts (model.recipes): studio (the default) or "
        "BackTAL's published recipe.",
    )
    epochs: int | None = Field(default=None, ge=1, le=1000, description="Default: the recipe's.")
    hidden: int | None = Field(
        default=None, ge=8, le=4096, description="Base-module width. Default 256 (published: 2048)."
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        max_length=64,
        description='Any further training option, e.g. {"lr": 0.001, "loss_weights.click": 0} '
        "(the keys `python -m model.cli train --help` lists under --set).",
    )
    include_video_ids: list[int] | None = Field(default=None, max_length=100_000)
    extractor: str | None = Field(default=None, description="Default: the most common one.")
    holdout_fraction: float | None = Field(default=None, ge=0.0, lt=1.0, description="Default 0.2.")
    approved_only: bool = Field(
        default=False,
        description="Train only on approved work: the labels and clicks of the (video, "
        "annotator) pairs whose assignment a reviewer approved.",
    )
    activate: bool = Field(default=True, description="Make the new version the active one.")
    queue: bool = Field(default=False, description="Queue behind a running training job.")


class ModelVersionOut(Schema):
    id: int
    job_id: int | None
    supervision: str
    config: dict[str, Any]
    class_names: list[str]
    metrics: dict[str, Any]
    data_summary: dict[str, Any]
    is_active: bool
    created_at: UtcDatetime


class ActivationOut(ModelVersionOut):
    predict_job: JobOut | None = Field(
        description="The re-predict job of every video queued by the activation; None when "
        "the version's predictions already exist for every video with its features."
    )
    videos_without_predictions: int = Field(
        description="Videos with features of the version's extractor it had not predicted."
    )
    note: str | None = Field(
        default=None, description="Why no predict job was queued for them (e.g. no checkpoint)."
    )


class PredictedSegment(Schema):
    id: int = Field(description="Accept it with POST /videos/{id}/segments/accept.")
    class_id: int
    class_name: str
    start_s: float
    end_s: float
    score: float


class Curves(Schema):
    times_s: list[float] = Field(default_factory=list)
    classes: dict[str, list[float]] = Field(default_factory=dict)


class VideoPredictions(Schema):
    video_id: int
    model_version_id: int | None
    segments: list[PredictedSegment] = Field(default_factory=list)
    curves: Curves = Field(default_factory=Curves)


class GroundTruthOut(Schema):
    class_id: int
    class_name: str
    start_s: float
    end_s: float


class GroundTruthImportResult(Schema):
    videos: int
    segments: int
    skipped_videos: list[str] = Field(description="Names in the file with no live video here.")
