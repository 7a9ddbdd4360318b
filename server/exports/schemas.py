from __future__ import annotations

from server.clicks.schemas import ClickOut
from server.schemas import Page, Schema


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
