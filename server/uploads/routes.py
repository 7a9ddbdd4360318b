"""Upload routes: resumable uploads through the API (tus 1.0.0, ``tus.py``) and, with S3
storage and ``BACKTAL_S3_UPLOAD=direct``, presigned multipart uploads to the bucket
(``direct.py``). A finished upload becomes a video exactly as ``POST /videos`` makes one."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from server.auth import SessionDep
from server.config import Settings
from server.db import session_scope
from server.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Gone,
    InsufficientStorage,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from server.models import User
from server.storage import Storage
from server.storage.s3 import S3Storage
from server.uploads import direct
from server.uploads.access import Uploader
from server.uploads.schemas import (
    DirectUploadOut,
    DirectUploadRef,
    DirectUploadStart,
    PartsOut,
    PartsRequest,
    PartUrl,
    StoredPart,
)
from server.uploads.tus import (
    DONE,
    FAILED,
    OFFSET_STREAM,
    RECEIVING,
    TUS_EXTENSIONS,
    TUS_VERSION,
    Busy,
    TusFolder,
    UploadRecord,
    encode_metadata,
    http_date,
    opened_for_append,
    parse_metadata,
)
from server.videos import service as videos
from server.videos.schemas import VideoOut
from server.videos.upload import ReceivedUpload, check_filename

FLUSH_BYTES = 1 << 20  # buffered before each write to disk (off the event loop)
IDLE_S = 60.0  # a PATCH whose connection sends nothing this long lets go of the upload
LOCK_WAIT_S = 5.0  # how long a PATCH waits for an older request to let go (then 423)
SWEEP_EVERY_S = 60.0


class MethodOverrideRoute(APIRoute):
    """tus: a client that cannot send PATCH or DELETE sends POST with
    ``X-HTTP-Method-Override``, which the server must take as the method."""

    @staticmethod
    def _override(scope: Scope) -> Scope:
        if scope["type"] == "http" and scope["method"] == "POST":
            for name, value in scope["headers"]:
                if name == b"x-http-method-override":
                    return {**scope, "method": value.decode("latin-1").strip().upper()}
        return scope

    def matches(self, scope: Scope) -> Any:
        return super().matches(self._override(scope))

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().handle(self._override(scope), receive, send)


router = APIRouter(tags=["uploads"], route_class=MethodOverrideRoute)


class PreconditionFailed(ApiError):
    status_code = 412


class Locked(ApiError):
    status_code = 423


def _tus(**headers: str) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, **headers}


def _fail(cls: type[ApiError], detail: str, **headers: str) -> ApiError:
    return cls(detail, headers=_tus(**headers))


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _folder(request: Request) -> TusFolder:
    settings = _settings(request)
    return TusFolder(settings.upload_root, settings.upload_expire_s)


def _check_version(request: Request) -> None:
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise _fail(
            PreconditionFailed,
            f"send the header 'Tus-Resumable: {TUS_VERSION}': the tus protocol version "
            "this server speaks",
            **{"Tus-Version": TUS_VERSION},
        )


def _int_header(request: Request, name: str) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 19:
        raise _fail(BadRequest, f"{name} must be a whole number of bytes, got {raw!r}")
    return int(raw)


def _throttled(request: Request, what: str, run: Callable[[], Any]) -> None:
    """Run a sweep at most once per ``SWEEP_EVERY_S`` (or the expiry, if shorter)."""
    state = request.app.state
    last: dict[str, float] = getattr(state, "upload_sweeps", None) or {}
    state.upload_sweeps = last
    every = min(SWEEP_EVERY_S, _settings(request).upload_expire_s)
    now = time.monotonic()
    if now - last.get(what, -1e18) < every:
        return
    last[what] = now
    run()


def _own(folder: TusFolder, upload_id: str, user: User) -> UploadRecord:
    """The caller's upload, 404 for anyone else's (or none), 410 once expired or failed."""
    record = folder.load(upload_id)
    if record is None or record.owner_id != user.id:
        raise _fail(
            NotFound,
            f"there is no upload {upload_id!r} of yours (finished uploads "
            "are forgotten after a while): start it again",
        )
    if record.state == FAILED:
        raise _fail(Gone, record.error or "this upload failed: start it again")
    if record.state == RECEIVING and record.expires_at(folder.expire_s) < time.time():
        raise _fail(
            Gone,
            f"this upload expired after {folder.expire_s:g} s without new bytes "
            "(BACKTAL_UPLOAD_EXPIRE_S): start it again",
        )
    return record


def _done_headers(record: UploadRecord) -> dict[str, str]:
    return _tus(
        **{
            "Upload-Offset": str(record.length),
            "Backtal-Video-Id": str(record.video_id),
            "Backtal-Video-Created": "1" if record.video_created else "0",
        }
    )


# ---------------------------------------------------------------------------- tus routes


@router.options("/uploads", status_code=204, response_class=Response)
def tus_options(request: Request) -> Response:
    """tus discovery (no token needed): version, extensions, the size limit."""
    return Response(
        status_code=204,
        headers=_tus(
            **{
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": TUS_EXTENSIONS,
                "Tus-Max-Size": str(_settings(request).max_upload_bytes),
            }
        ),
    )


@router.post(
    "/uploads",
    status_code=201,
    response_class=Response,
    responses={201: {"description": "Created: `Location` is the upload's URL."}},
)
async def tus_create(request: Request, user: Uploader) -> Response:
    """tus creation: headers `Tus-Resumable: 1.0.0`, `Upload-Length` (bytes, at most
    BACKTAL_MAX_UPLOAD_BYTES: else 413), `Upload-Metadata` with `filename` (and optionally
    `title`). No body; the bytes follow with PATCH."""
    _check_version(request)
    settings = _settings(request)
    if request.headers.get("upload-defer-length") is not None:
        raise _fail(BadRequest, "send Upload-Length: this server takes uploads of known size only")
    length = _int_header(request, "upload-length")
    if length is None:
        raise _fail(BadRequest, "send Upload-Length: the file's size in bytes")
    try:
        metadata = parse_metadata(request.headers.get("upload-metadata"))
        name = check_filename(metadata.get("filename", "")) if "filename" in metadata else None
    except ApiError as exc:
        raise _fail(type(exc), exc.detail) from None
    if name is None:
        raise _fail(BadRequest, "name the file: Upload-Metadata needs 'filename'")
    if len(metadata.get("title", "")) > 255:
        raise _fail(BadRequest, "the title must be at most 255 characters long")
    if length > settings.max_upload_bytes:
        raise _fail(
            PayloadTooLarge,
            f"{name} is {length} bytes, larger than the upload limit of "
            f"{settings.max_upload_bytes} bytes (BACKTAL_MAX_UPLOAD_BYTES)",
        )
    if length == 0:
        raise _fail(BadRequest, f"{name} is empty (0 bytes)")
    if (_int_header(request, "content-length") or 0) > 0:
        raise _fail(BadRequest, "a creation request carries no bytes: send them with PATCH")
    folder = _folder(request)
    await run_in_threadpool(_throttled, request, "tus", folder.sweep)

    def create() -> UploadRecord:
        folder.root.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(folder.root).free - folder.reserved_bytes()
        if free < length:
            raise _fail(
                InsufficientStorage,
                f"the server has room for {max(0, free)} more bytes of uploads, "
                f"{name} needs {length}: ask an admin to free disk space",
            )
        return folder.create(user.id, length, metadata)

    record = await run_in_threadpool(create)
    location = f"{request.scope.get('root_path', '')}{request.url.path.rstrip('/')}/{record.id}"
    return Response(
        status_code=201,
        headers=_tus(
            Location=location,
            **{
                "Upload-Offset": "0",
                "Upload-Expires": http_date(record.expires_at(folder.expire_s)),
            },
        ),
    )


@router.head("/uploads/{upload_id}", response_class=Response)
async def tus_head(upload_id: str, request: Request, user: Uploader) -> Response:
    """tus: how many bytes of the upload the server holds (`Upload-Offset`); a finished
    upload also names its video (`Backtal-Video-Id`, `Backtal-Video-Created`)."""
    _check_version(request)
    folder = _folder(request)
    record = _own(folder, upload_id, user)
    headers = {
        "Upload-Length": str(record.length),
        "Upload-Metadata": encode_metadata(record.metadata),
        "Cache-Control": "no-store",
    }
    if record.state == DONE:
        headers.update(_done_headers(record))
    else:
        headers["Upload-Offset"] = str(record.offset)
        headers["Upload-Expires"] = http_date(record.expires_at(folder.expire_s))
    return Response(status_code=200, headers=_tus(**headers))


@router.patch(
    "/uploads/{upload_id}",
    status_code=204,
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {OFFSET_STREAM: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def tus_patch(upload_id: str, request: Request, user: Uploader) -> Response:
    """tus: append bytes at `Upload-Offset` (`Content-Type: application/offset+octet-stream`).
    The request that brings the last byte turns the file into a video (probe, SHA-256
    de-duplication, media job) and answers with `Backtal-Video-Id`; a file that is no usable
    video gets 422."""
    _check_version(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != OFFSET_STREAM:
        raise _fail(UnsupportedMediaType, f"send the bytes as Content-Type: {OFFSET_STREAM}")
    offset = _int_header(request, "upload-offset")
    if offset is None:
        raise _fail(BadRequest, "send Upload-Offset: where these bytes start in the file")
    folder = _folder(request)
    _own(folder, upload_id, user)
    async with _writing(request, folder, upload_id) as release:
        record = _own(folder, upload_id, user)  # again, now that this request holds it
        if record.state == DONE:
            if offset != record.length:
                raise _fail(Conflict, "this upload is finished: nothing more to send")
            return Response(status_code=204, headers=_done_headers(record))
        if offset != record.offset:
            raise _fail(
                Conflict,
                f"Upload-Offset is {offset} but the server holds {record.offset} bytes of "
                "this upload: ask with HEAD and go on from there",
            )
        data = folder.data_path(upload_id)
        held = data.stat().st_size if data.exists() else -1
        if held < record.offset:
            record.state, record.error, record.error_status = (
                FAILED,
                "the bytes received so far were lost on the server: start the upload again",
                410,
            )
            folder.save(record)
            folder.drop_data(upload_id)
            raise _fail(Gone, record.error)
        written, ended = await _receive(
            request, data, record.offset, record.length - record.offset, release
        )
        record.offset += written
        record.touched_at = time.time()
        if record.offset < record.length:
            await run_in_threadpool(folder.save, record)
            if not ended:  # the connection went away: what arrived is kept
                return Response(status_code=400, headers=_tus())
            return Response(
                status_code=204,
                headers=_tus(
                    **{
                        "Upload-Offset": str(record.offset),
                        "Upload-Expires": http_date(record.expires_at(folder.expire_s)),
                    }
                ),
            )
        return await _finish(request, folder, record, user)


@router.delete("/uploads/{upload_id}", status_code=204, response_class=Response)
async def tus_delete(upload_id: str, request: Request, user: Uploader) -> Response:
    """tus termination: the upload and its bytes go (a finished upload's video stays)."""
    _check_version(request)
    folder = _folder(request)
    record = folder.load(upload_id)
    if record is None or record.owner_id != user.id:
        raise _fail(NotFound, f"there is no upload {upload_id!r} of yours")
    async with _writing(request, folder, upload_id):
        await run_in_threadpool(folder.remove, upload_id)
    return Response(status_code=204, headers=_tus())


@contextlib.asynccontextmanager
async def _writing(
    request: Request, folder: TusFolder, upload_id: str
) -> AsyncIterator[asyncio.Event]:
    """Hold the upload's write lock. A request of this process that still holds it (a
    connection that went silent when the network dropped) is asked to let go first; one of
    another process is waited for up to ``LOCK_WAIT_S``, then 423 (tus clients retry)."""
    writers: dict[str, asyncio.Event] = getattr(request.app.state, "tus_writers", None) or {}
    request.app.state.tus_writers = writers
    older = writers.get(upload_id)
    if older is not None:
        older.set()
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            lock = folder.try_lock(upload_id)
            break
        except Busy:
            if time.monotonic() > deadline:
                raise _fail(
                    Locked, "another request is writing this upload right now: retry in a moment"
                ) from None
            await asyncio.sleep(0.05)
    release = asyncio.Event()
    writers[upload_id] = release
    try:
        yield release
    finally:
        if writers.get(upload_id) is release:
            del writers[upload_id]
        lock.release()


class _Cut(Exception):
    """The body stopped: the client went away, went silent, or a newer request took over."""


async def _body(request: Request, release: asyncio.Event) -> AsyncIterator[bytes]:
    stream = request.stream().__aiter__()
    while True:
        nxt = asyncio.ensure_future(stream.__anext__())
        stop = asyncio.ensure_future(release.wait())
        try:
            done, _ = await asyncio.wait(
                {nxt, stop}, timeout=IDLE_S, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stop.cancel()
        if nxt not in done:
            nxt.cancel()
            with contextlib.suppress(BaseException):
                await nxt
            raise _Cut()
        try:
            chunk = nxt.result()
        except StopAsyncIteration:
            return
        except ClientDisconnect:
            raise _Cut() from None
        if chunk:
            yield chunk


async def _receive(
    request: Request, data: Path, offset: int, room: int, release: asyncio.Event
) -> tuple[int, bool]:
    """Append the request's body to ``data`` (cut to ``offset`` first); returns the bytes
    kept and whether the body ended normally. 413 (nothing kept) past the declared length."""
    written = 0
    buf = bytearray()
    ended = True
    with opened_for_append(data, offset) as fh:
        try:
            async for chunk in _body(request, release):
                if written + len(buf) + len(chunk) > room:
                    await run_in_threadpool(fh.truncate, offset)
                    written = 0
                    buf.clear()
                    raise _fail(
                        PayloadTooLarge,
                        f"these bytes go past the upload's declared length of "
                        f"{offset + room} bytes; nothing of them was kept",
                    )
                buf += chunk
                if len(buf) >= FLUSH_BYTES:
                    await run_in_threadpool(fh.write, bytes(buf))
                    written += len(buf)
                    buf.clear()
        except _Cut:
            ended = False
        if buf:
            await run_in_threadpool(fh.write, bytes(buf))
            written += len(buf)
    return written, ended


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _make_video(state: Any, data: Path, record: UploadRecord, user: User) -> tuple[int, bool]:
    """The finished upload through ``POST /videos``' own steps: probe (422), then hash and
    store or find the same content (one transaction). Returns (video id, created)."""
    name = record.filename
    probe = videos.probe_or_422(data, name)
    upload = ReceivedUpload(
        tmp_path=data,
        filename=name,
        size=os.path.getsize(data),
        sha256=_sha256(data),
        fields={"title": record.metadata.get("title", "")},
    )
    storage: Storage = state.storage
    with session_scope(state.sessionmaker) as session:  # this request's one transaction
        stored = videos.store_upload(session, storage, upload, probe, user)
        return stored.video.id, stored.created


async def _finish(
    request: Request, folder: TusFolder, record: UploadRecord, user: User
) -> Response:
    """The last byte arrived. A refused file (4xx) fails the upload for good; a server-side
    failure (5xx) leaves the record at its previous offset, so the client's retry sends the
    last chunk again and this runs again."""
    data = folder.data_path(record.id)
    try:
        video_id, created = await run_in_threadpool(
            _make_video, request.app.state, data, record, user
        )
    except ApiError as exc:
        if exc.status_code >= 500:
            raise
        record.state, record.error, record.error_status = FAILED, exc.detail, exc.status_code
        folder.save(record)
        folder.drop_data(record.id)
        raise _fail(type(exc), exc.detail) from None
    record.state, record.video_id, record.video_created = DONE, video_id, created
    record.offset = record.length
    folder.save(record)
    folder.drop_data(record.id)
    return Response(status_code=204, headers=_done_headers(record))


# ---------------------------------------------------------------------------- S3 direct


def _direct(request: Request) -> S3Storage:
    storage = request.app.state.storage
    if not direct.enabled(storage, _settings(request).s3_upload):
        raise Conflict(
            "direct uploads need S3 storage with BACKTAL_S3_UPLOAD=direct; this server "
            "takes uploads through /api/v1/uploads (tus)"
        )
    return storage


@router.post("/direct-uploads", response_model=DirectUploadOut, status_code=201)
def start_direct_upload(
    body: DirectUploadStart, request: Request, user: Uploader
) -> DirectUploadOut:
    """Start a presigned multipart upload to the bucket (413 past the size limit)."""
    storage, settings = _direct(request), _settings(request)
    _throttled(request, "direct", lambda: direct.sweep(storage, settings.upload_expire_s))
    started = direct.start(
        storage,
        user,
        filename=body.filename,
        size=body.size,
        title=body.title,
        content_type=body.content_type,
        max_bytes=settings.max_upload_bytes,
    )
    return DirectUploadOut(
        key=started.key,
        upload_id=started.upload_id,
        part_size=started.part_size,
        part_count=started.part_count,
        expires_s=settings.s3_presign_expires_s,
    )


@router.post("/direct-uploads/parts", response_model=PartsOut)
def sign_direct_parts(body: PartsRequest, request: Request, user: Uploader) -> PartsOut:
    """Presigned URLs for the named parts, and the parts the bucket already holds."""
    storage, settings = _direct(request), _settings(request)
    urls, stored = direct.sign(
        storage, user, body.key, body.upload_id, body.part_numbers, settings.s3_presign_expires_s
    )
    return PartsOut(
        urls=[PartUrl(part_number=n, url=u) for n, u in urls],
        uploaded=[StoredPart(part_number=n, size=s) for n, s in stored],
    )


@router.post(
    "/direct-uploads/complete",
    response_model=VideoOut,
    status_code=201,
    responses={200: {"description": "The same content was uploaded before: that video."}},
)
def complete_direct_upload(
    body: DirectUploadRef,
    request: Request,
    response: Response,
    user: Uploader,
    session: SessionDep,
) -> VideoOut:
    """Complete the upload and make the object a video (422 when it is none; the existing
    video with 200 when its content is known)."""
    storage, settings = _direct(request), _settings(request)
    video, created = direct.complete(
        session,
        storage,
        user,
        body.key,
        body.upload_id,
        scratch=settings.media_dir / "tmp",
        max_bytes=settings.max_upload_bytes,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return VideoOut.model_validate(video)


@router.post("/direct-uploads/abort", status_code=204, response_class=Response)
def abort_direct_upload(body: DirectUploadRef, request: Request, user: Uploader) -> Response:
    """Cancel the upload: the parts in the bucket go."""
    direct.abort(_direct(request), user, body.key, body.upload_id)
    return Response(status_code=204)
