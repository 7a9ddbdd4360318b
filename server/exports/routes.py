from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from server.auth import AdminUser, CurrentUser, SessionDep
from server.config import Settings
from server.errors import BadRequest, Forbidden
from server.exports import dataset, labels, segments, service
from server.exports.schemas import (
    ClickExportPage,
    ImportResult,
    LabelExport,
    SegmentImportResult,
)
from server.models import Role
from server.videos.upload import multipart_body, receive_file_bytes

router = APIRouter(tags=["export / import"])


class ExportFormat(StrEnum):
    json = "json"
    coin_csv = "coin-csv"


class DatasetFormat(StrEnum):
    official_npz = "official-npz"


@router.get(
    "/export/clicks",
    response_model=ClickExportPage,
    responses={200: {"content": {"text/csv": {}}, "description": "JSON page, or a COIN CSV"}},
)
def export_clicks(
    user: CurrentUser,
    session: SessionDep,
    format: ExportFormat = ExportFormat.json,
    video_id: int | None = None,
    annotator_id: int | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    """Clicks as JSON pages or as a COIN CSV file (annotators: only their own)."""
    if user.role != Role.admin:
        if annotator_id is not None and annotator_id != user.id:
            raise Forbidden("annotators can only export their own clicks")
        annotator_id = user.id
    if format == ExportFormat.coin_csv:
        data = service.export_coin_csv(
            session, video_id=video_id, annotator_id=annotator_id, since=since
        )
        return Response(
            data,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="clicks.csv"'},
        )
    items, total = service.export_json(
        session,
        video_id=video_id,
        annotator_id=annotator_id,
        since=since,
        limit=limit,
        offset=offset,
    )
    return ClickExportPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/export/labels", response_model=LabelExport)
def export_labels(
    _: AdminUser,
    session: SessionDep,
    parts: Annotated[
        list[str] | None,
        Query(description="labels, clicks, segments (comma-separated or repeated); default all"),
    ] = None,
    annotator_id: int | None = None,
    video_id: int | None = None,
) -> LabelExport:
    """Every live video with its annotators' video-level labels, clicks and segments (by
    name), in one JSON document; ``annotator_id`` / ``video_id`` narrow it."""
    return labels.export_labels(
        session,
        parts=labels.parse_parts(parts),
        annotator_id=annotator_id,
        video_id=video_id,
    )


@router.post(
    "/import/clicks",
    response_model=ImportResult,
    openapi_extra=multipart_body(
        annotator={"type": "string", "minLength": 1, "maxLength": 64, "required": True}
    ),
)
async def import_clicks(request: Request, _: AdminUser, session: SessionDep) -> ImportResult:
    """Import a COIN click file for one annotator (all rows or none)."""
    settings: Settings = request.app.state.settings
    upload = await receive_file_bytes(
        request, settings.media_dir / "tmp", settings.max_import_bytes
    )
    annotator = upload.fields.get("annotator", "").strip()
    if not annotator or len(annotator) > 64:
        raise BadRequest("the form field 'annotator' (1 to 64 characters) is required")
    return await run_in_threadpool(
        service.import_coin_csv, session, upload.data, annotator, settings.max_import_rows
    )


@router.get("/export/segments")
def export_segments(
    user: CurrentUser,
    session: SessionDep,
    annotator_id: int | None = None,
    video_id: int | None = None,
) -> dict[str, Any]:
    """Segments as ActivityNet ground-truth JSON (``python -m model.cli eval --gt`` reads
    it; subset ``validation`` or ``training`` per video). Each annotation also says who drew
    it and whether it came from a model's prediction. Annotators: only their own."""
    if user.role != Role.admin:
        if annotator_id is not None and annotator_id != user.id:
            raise Forbidden("annotators can only export their own segments")
        annotator_id = user.id
    return segments.export_segments(session, annotator_id=annotator_id, video_id=video_id)


@router.post(
    "/import/segments",
    response_model=SegmentImportResult,
    openapi_extra=multipart_body(annotator={"type": "string", "minLength": 1, "maxLength": 64}),
)
async def import_segments(
    request: Request, user: CurrentUser, session: SessionDep
) -> SegmentImportResult:
    """Import ActivityNet ground-truth JSON as segments (all annotations or none; identical
    segments are not stored twice). ``annotator``: whose segments they become (admin: any
    name, created if new; left out: each annotation's ``annotator``). Annotators import
    their own segments only."""
    settings: Settings = request.app.state.settings
    upload = await receive_file_bytes(
        request, settings.media_dir / "tmp", settings.max_import_bytes
    )
    annotator: str | None = upload.fields.get("annotator", "").strip() or None
    if annotator is not None and len(annotator) > 64:
        raise BadRequest("the form field 'annotator' must be 1 to 64 characters")
    if user.role != Role.admin:
        if annotator is not None and annotator != user.name:
            raise Forbidden("annotators can only import segments as themselves")
        annotator = user.name
    return await run_in_threadpool(
        segments.import_segments,
        session,
        upload.data,
        annotator=annotator,
        max_rows=settings.max_import_rows,
    )


@router.get(
    "/export/dataset",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "the data set (zip)"}},
)
def export_dataset(
    request: Request,
    _: AdminUser,
    session: SessionDep,
    format: DatasetFormat = DatasetFormat.official_npz,
    annotator_id: int | None = None,
    class_ids: Annotated[list[str] | None, Query()] = None,
    extractor: Annotated[str | None, Query(max_length=64)] = None,
    split: Annotated[str, Query(max_length=32)] = "val",
    validation_split: Annotated[
        str, Query(max_length=32, description="Folder and GT subset of the validation videos.")
    ] = "test",
) -> StreamingResponse:
    """The training set as a zip in the official npz layout (``model.cli train`` reads it):
    ``<split>/<video>.npz``, the validation videos in ``<validation_split>/``,
    ``classes.json``, ``gt.json`` where there is ground truth (imported, or segments; each
    annotation's ``source`` says which, and what came from a model's prediction),
    ``manifest.json``. ``class_ids``: comma-separated or repeated."""
    settings: Settings = request.app.state.settings
    fh = dataset.export_to_tempfile(
        session,
        request.app.state.storage,
        settings.media_dir / "tmp",
        annotator_id=annotator_id,
        class_ids=dataset.parse_class_ids(class_ids),
        extractor=extractor,
        split=split,
        validation_split=validation_split,
    )
    size = fh.seek(0, 2)
    fh.seek(0)

    def chunks() -> Iterator[bytes]:
        try:
            while block := fh.read(1 << 20):
                yield block
        finally:
            fh.close()

    return StreamingResponse(
        chunks(),
        media_type="application/zip",
        headers={
            "Content-Disposition": 'attachment; filename="dataset.zip"',
            "Content-Length": str(size),
        },
    )
