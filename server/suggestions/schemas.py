from __future__ import annotations

from typing import Literal

from pydantic import Field

from server.models import SuggestionResponseKind
from server.schemas import Schema, UtcDatetime

FlagReason = Literal["inside_prediction", "inside_ground_truth"]


class SuggestionOut(Schema):
    id: int
    rank: int = Field(description="0 is the moment the model would learn most from.")
    t_s: float
    score: float
    reason: str = Field(
        description="low_confidence | branch_disagreement | segment_border | "
        "unlabelled_activation (docs/guided.md)"
    )
    class_id: int | None


class VideoSuggestions(Schema):
    video_id: int
    model_version_id: int | None = Field(description="None: no model version yet.")
    suggestions: list[SuggestionOut] = Field(
        default_factory=list, description="Open for the caller, best first."
    )
    answered: int = Field(default=0, description="Suggestions of this video the caller answered.")
    passed: int = Field(default=0, description="Suggestions of this video the caller passed.")
    click_radius_s: float = Field(
        default=1.0, description="A background click this close answers a suggestion."
    )


class SuggestionResponseIn(Schema):
    response: SuggestionResponseKind = Field(
        description="answered: clicked background there; passed: looked and moved on."
    )


class SuggestionResponseOut(Schema):
    suggestion_id: int
    response: SuggestionResponseKind


class FlagOut(Schema):
    reason: FlagReason
    class_id: int
    class_name: str
    start_s: float
    end_s: float
    score: float | None = Field(description="The predicted segment's score; None for GT.")
    depth_s: float = Field(
        description="How far inside the segment the click lies: its distance to the nearer edge."
    )
    nearest_edge: Literal["start", "end"] = Field(description="The segment edge nearer the click.")


class FlaggedClickOut(Schema):
    click_id: int
    video_id: int
    video_title: str
    annotator_id: int
    annotator_name: str
    t_s: float
    frame_index: int
    created_at: UtcDatetime
    kept: bool = Field(description="An admin kept it for this model version.")
    flags: list[FlagOut]


class ClickFlagsOut(Schema):
    model_version_id: int | None = Field(description="None: no version, GT flags only.")
    min_score: float = Field(description="Segments at least this confident flag clicks.")
    margin_s: float
    min_activation: float | None = Field(
        default=None,
        description="A segment flags a click only where its class's activation there is at "
        "least this (None: anywhere inside it).",
    )
    total: int
    items: list[FlaggedClickOut]


class KeptClickOut(Schema):
    click_id: int
    model_version_id: int
