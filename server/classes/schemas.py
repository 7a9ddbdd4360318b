from __future__ import annotations

from pydantic import Field

from server.labels.schemas import ClassOut
from server.schemas import Schema

CLASS_NAME = r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$"


class ClassRename(Schema):
    name: str = Field(min_length=1, max_length=128, pattern=CLASS_NAME)


class ClassMerge(Schema):
    into: int = Field(description="The class that receives everything of this one.")


class MergeCounts(Schema):
    """What moved from the merged class to the kept one (rows), and which duplicates were
    merged instead of copied."""

    video_labels: int = 0
    video_labels_merged: int = Field(0, description="Already labelled with the kept class.")
    clicks: int = 0
    clicks_merged: int = Field(
        0,
        description="Live action clicks at the same moment by the same annotator: the "
        "moved one is deleted (soft, kept on record).",
    )
    gt_segments: int = 0
    gt_segments_merged: int = 0
    predictions: int = 0
    predictions_merged: int = Field(0, description="Same version, video and edges: max score.")
    suggestions: int = 0
    activation_curves: int = 0
    segments: int = 0
    segments_merged: int = Field(
        0, description="Live segments with the same edges by the same annotator (soft-deleted)."
    )
    model_versions: int = Field(0, description="Versions whose class list named the class.")


class MergeResult(Schema):
    merged: str = Field(description="The name of the class that was merged (and is gone).")
    into: ClassOut
    moved: MergeCounts
