"""Streaming multipart upload: the file part goes straight to disk, never into memory.

The size limit is enforced while bytes arrive (a 2 GB body is refused after ``limit``
bytes, not after it was stored), the content is hashed on the way, and the temporary file
is removed on any failure.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from server.errors import BadRequest, InsufficientStorage, PayloadTooLarge, UnsupportedMediaType

MAX_FIELD_BYTES = 4096
MAX_PARTS = 8
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ReceivedUpload:
    tmp_path: Path | None = None
    filename: str | None = None
    size: int = 0
    sha256: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        if self.tmp_path is not None:
            self.tmp_path.unlink(missing_ok=True)
            self.tmp_path = None


def check_filename(name: str) -> str:
    """The client's file name, refused if it tries to name a path; returns the base name."""
    if not name or len(name) > 255:
        raise BadRequest("the file name must be 1 to 255 characters long")
    if "/" in name or "\\" in name or "\x00" in name or ".." in name:
        raise BadRequest(
            f"file name {name!r} is not allowed: it must not contain '/', '\\\\' or '..'"
        )
    if any(ord(c) < 32 for c in name):
        raise BadRequest("the file name must not contain control characters")
    return name


def safe_stem(name: str) -> str:
    """A file-system and URL friendly stem from a user's file name."""
    stem = Path(name).stem
    stem = _SAFE_NAME.sub("_", stem).strip("._-")
    return stem[:200] or "video"


class _Collector:
    def __init__(self, tmp_dir: Path, file_field: str, limit: int) -> None:
        self.tmp_dir = tmp_dir
        self.file_field = file_field
        self.limit = limit
        self.result = ReceivedUpload()
        self._parts = 0
        self._hdr_field = b""
        self._hdr_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._is_file = False
        self._buf = bytearray()
        self._fh: IO[bytes] | None = None
        self._hash = hashlib.sha256()

    # python-multipart callbacks -------------------------------------------------------
    def on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise BadRequest(f"too many form fields (at most {MAX_PARTS})")
        self._headers = {}
        self._name = None
        self._is_file = False
        self._buf = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._hdr_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._hdr_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._hdr_field.strip().lower()] = self._hdr_value
        self._hdr_field = b""
        self._hdr_value = b""

    def on_headers_finished(self) -> None:
        _, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = opts.get(b"name", b"").decode("utf-8", "replace")
        if self._name == self.file_field and b"filename" in opts:
            if self.result.tmp_path is not None:
                raise BadRequest(f"send exactly one '{self.file_field}' part")
            self.result.filename = check_filename(opts[b"filename"].decode("utf-8", "replace"))
            self._is_file = True
            path = self.tmp_dir / f"upload-{uuid.uuid4().hex}.part"
            try:
                self._fh = open(path, "wb")  # noqa: SIM115 (closed in on_part_end / close)
            except OSError as exc:  # full disk, read-only or unwritable media folder
                raise InsufficientStorage(f"could not store the upload: {exc.strerror}") from exc
            self.result.tmp_path = path

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._is_file:
            self.result.size += len(chunk)
            if self.result.size > self.limit:
                raise PayloadTooLarge(f"the upload is larger than the limit of {self.limit} bytes")
            self._hash.update(chunk)
            assert self._fh is not None
            try:
                self._fh.write(chunk)
            except OSError as exc:
                raise InsufficientStorage(f"could not store the upload: {exc.strerror}") from exc
        else:
            self._buf += chunk
            if len(self._buf) > MAX_FIELD_BYTES:
                raise BadRequest(f"form field {self._name!r} is too long")

    def on_part_end(self) -> None:
        if self._is_file:
            self.close()
            self.result.sha256 = self._hash.hexdigest()
        elif self._name:
            self.result.fields[self._name] = self._buf.decode("utf-8", "replace")

    def close(self) -> None:
        if self._fh is not None:
            try:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            except OSError as exc:
                raise InsufficientStorage(f"could not store the upload: {exc.strerror}") from exc
            finally:
                self._fh.close()
                self._fh = None


async def receive_upload(
    request: Request, tmp_dir: Path, limit: int, file_field: str = "file"
) -> ReceivedUpload:
    """Parse a multipart body from ``request`` streaming the file part into ``tmp_dir``."""
    ctype, opts = parse_options_header(request.headers.get("content-type"))
    if ctype != b"multipart/form-data" or b"boundary" not in opts:
        raise UnsupportedMediaType(
            f"send the video as multipart/form-data with a '{file_field}' field"
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 1024 * 1024:
        raise PayloadTooLarge(f"the upload is larger than the limit of {limit} bytes")
    try:
        tmp_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InsufficientStorage(f"could not store the upload: {exc.strerror}") from exc
    col = _Collector(tmp_dir, file_field, limit)
    callbacks = {
        name: getattr(col, name)
        for name in (
            "on_part_begin",
            "on_part_data",
            "on_part_end",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
        )
    }
    parser = MultipartParser(opts[b"boundary"], callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except ClientDisconnect as exc:
        col.close()
        col.result.discard()
        raise BadRequest("the client disconnected before the upload finished") from exc
    except MultipartParseError as exc:
        col.close()
        col.result.discard()
        raise BadRequest(f"the multipart body is malformed: {exc}") from exc
    except BaseException:
        try:
            col.close()
        finally:
            col.result.discard()
        raise
    if col.result.tmp_path is None:
        raise BadRequest(f"the multipart field '{file_field}' with a file is required")
    if col.result.size == 0:
        col.result.discard()
        raise BadRequest("the uploaded file is empty")
    return col.result


@dataclass
class SmallFile:
    data: bytes
    filename: str
    fields: dict[str, str]


async def receive_file_bytes(request: Request, tmp_dir: Path, limit: int) -> SmallFile:
    """A size-limited multipart ``file`` read into memory (imports: CSV, JSON, npy)."""
    upload = await receive_upload(request, tmp_dir, limit)
    try:
        assert upload.tmp_path is not None and upload.filename is not None
        return SmallFile(upload.tmp_path.read_bytes(), upload.filename, upload.fields)
    finally:
        upload.discard()


def multipart_body(**fields: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` documenting a multipart body: a required ``file`` plus ``fields``
    (name → JSON schema; a schema with ``"required": True`` marks the field required)."""
    props: dict[str, Any] = {"file": {"type": "string", "format": "binary"}}
    required = ["file"]
    for name, schema in fields.items():
        schema = dict(schema)
        if schema.pop("required", False):
            required.append(name)
        props[name] = schema
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": required, "properties": props}
                }
            },
        }
    }
