from __future__ import annotations

from pydantic import Field

from server.clicks.schemas import ClickOut
from server.schemas import Page, Schema, UtcDatetime


class ExportedClick(ClickOut):
    video_name: str
    annotator_name: str
    class_name: str | None


class ClickExportPage(Page):
    items: list[ExportedClick]


class ImportResult(Schema):
    annotator_id: int
    annotator_name: str
    rows: int
    imported: int
    already_present: int


class SegmentImportResult(Schema):
    annotators: list[str] = Field(description="Whose segments the file held.")
    videos: int
    rows: int = Field(description="Annotations in the file.")
    imported: int
    already_present: int = Field(description="Identical live segments not stored twice.")


class ExportedClass(Schema):
    id: int
    name: str
    retired: bool


class ExportedVideoLabel(Schema):
    annotator: str
    class_name: str


class ExportedLabelClick(Schema):
    annotator: str
    t_s: float
    end_s: float | None
    frame_index: int
    kind: str
    class_name: str | None
    created_at: UtcDatetime


class ExportedSegment(Schema):
    annotator: str
    class_name: str
    start_s: float
    end_s: float
    source: str = Field(description="drawn, or prediction (an accepted predicted segment).")
    model_version_id: int | None
    prediction_score: float | None


class ExportedVideo(Schema):
    id: int
    name: str
    title: str
    duration_s: float
    fps: float
    frame_count: int
    labels: list[ExportedVideoLabel] = Field(default_factory=list)
    clicks: list[ExportedLabelClick] = Field(default_factory=list)
    segments: list[ExportedSegment] = Field(default_factory=list)


class LabelExport(Schema):
    format: str = Field(description="backtal-labels/1")
    exported_at: UtcDatetime
    parts: list[str] = Field(description="Which kinds of labels the file holds.")
    classes: list[ExportedClass]
    videos: list[ExportedVideo]
