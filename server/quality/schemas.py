from __future__ import annotations

from pydantic import Field

from server.schemas import Schema


class AnnotatorQuality(Schema):
    annotator_id: int
    name: str
    role: str
    clicks: int = Field(description="Live clicks (background and action).")
    background_clicks: int
    videos: int = Field(description="Live videos with a live click or a label of theirs.")
    seconds_per_click: float | None = Field(
        description="Median client_elapsed_ms of their clicks, in seconds (docs/guided.md)."
    )
    timed_clicks: int = Field(description="Clicks that carry client_elapsed_ms.")
    flagged: int = Field(description="Background clicks flagged by the version (not kept).")
    flagged_share: float | None = Field(description="flagged / background_clicks")
    inside_gt: int | None = Field(description="None: no ground truth on their videos.")
    inside_gt_share: float | None = Field(
        description="Background clicks inside GT / those on videos with GT."
    )


class ClassAgreement(Schema):
    class_id: int
    class_name: str
    kappa: float | None = Field(description="Cohen's kappa; None when undefined.")


class PairAgreementOut(Schema):
    annotator_ids: list[int]
    names: list[str]
    videos: int
    mean_jaccard: float


class AgreementOut(Schema):
    videos: int = Field(description="Videos labelled by two or more annotators.")
    mean_jaccard: float | None
    classes: list[ClassAgreement]
    pairs: list[PairAgreementOut]


class QualityOut(Schema):
    model_version_id: int | None
    annotators: list[AnnotatorQuality]
    agreement: AgreementOut
