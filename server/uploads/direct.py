"""Direct uploads to an S3 bucket: the browser sends the file's parts straight to the bucket
with presigned ``UploadPart`` URLs (S3's multipart upload), so the file's bytes never pass
through the API process on the way in.

1. :func:`start` checks the size limit and the name, and creates the multipart upload under
   ``uploads/u<user id>/<random>.<size>/<name><ext>`` (the key names the owner and the
   declared size; the object's metadata keeps the original file name and title).
2. :func:`sign` hands out presigned part URLs and lists the parts the bucket already holds
   (a resumed upload sends only the missing ones).
3. :func:`complete` checks the parts (contiguous, the declared size), completes the
   upload — only then is there an object — and registers it through the bucket import
   (``videos.service.register_prefix``: probe, SHA-256 de-duplication, media job). An object
   that is no usable video, or content that is already a video, is deleted again.

No table: the bucket keeps the upload (key + UploadId); the key names its owner. Unfinished
multipart uploads are aborted by :func:`sweep` once no part arrived for ``upload_expire_s``
(a bucket lifecycle rule ``AbortIncompleteMultipartUpload`` is the backstop).
"""

from __future__ import annotations

import contextlib
import math
import re
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from server.db import on_rollback
from server.errors import BadRequest, NotFound, PayloadTooLarge, Unprocessable
from server.models import User, Video
from server.storage.base import Storage
from server.storage.s3 import S3Storage
from server.videos import service as videos
from server.videos.upload import check_filename, safe_stem

PREFIX = "uploads"
MAX_PARTS = 10_000  # S3's limit per multipart upload
MiB = 1024 * 1024
_KEY = re.compile(rf"^{PREFIX}/u(?P<owner>\d+)/[0-9a-f]{{32}}\.(?P<size>\d+)/[^/]+$")


@dataclass(frozen=True)
class Started:
    key: str
    upload_id: str
    part_size: int
    part_count: int


def part_size_for(size: int, minimum: int) -> int:
    """The part size: the configured one, larger (whole MiB) when the file needs more than
    S3's 10,000 parts."""
    need = math.ceil(size / MAX_PARTS)
    return max(minimum, math.ceil(need / MiB) * MiB)


def _meta(value: str) -> str:
    return urllib.parse.quote(value, safe="")  # S3 user metadata is ASCII


def start(
    storage: S3Storage,
    user: User,
    *,
    filename: str,
    size: int,
    title: str | None,
    content_type: str | None,
    max_bytes: int,
) -> Started:
    name = check_filename(filename)
    if size > max_bytes:
        raise PayloadTooLarge(
            f"{name} is {size} bytes, larger than the upload limit of {max_bytes} bytes "
            "(BACKTAL_MAX_UPLOAD_BYTES)"
        )
    if size <= 0:
        raise BadRequest(f"{name} is empty")
    ext = Path(name).suffix.lower()
    ext = ext if ext in videos.VIDEO_EXTENSIONS else ".video"
    key = f"{PREFIX}/u{user.id}/{secrets.token_hex(16)}.{size}/{safe_stem(name)}{ext}"
    metadata = {"filename": _meta(name)}
    if title and title.strip():
        metadata["title"] = _meta(title.strip()[:255])
    extra: dict[str, Any] = {"Metadata": metadata}
    if content_type and content_type.isascii():
        extra["ContentType"] = content_type
    upload_id = storage.client.create_multipart_upload(
        Bucket=storage.bucket, Key=storage.object_name(key), **extra
    )["UploadId"]
    part_size = part_size_for(size, storage.part_size)
    return Started(key, upload_id, part_size, max(1, math.ceil(size / part_size)))


def _own(key: str, user: User) -> int:
    """404 unless ``key`` is a direct upload of ``user`` (no one learns of others' keys);
    returns the declared size."""
    m = _KEY.match(key)
    if m is None or int(m["owner"]) != user.id:
        raise NotFound(f"there is no upload {key!r} of yours")
    return int(m["size"])


def _is_missing_upload(exc: Exception) -> bool:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    return code in ("NoSuchUpload", "404", "NoSuchKey")


def parts(storage: S3Storage, key: str, upload_id: str) -> list[dict[str, Any]]:
    """The parts the bucket holds, by number (404 when the upload is gone)."""
    found: list[dict[str, Any]] = []
    marker = 0
    while True:
        try:
            page = storage.client.list_parts(
                Bucket=storage.bucket,
                Key=storage.object_name(key),
                UploadId=upload_id,
                PartNumberMarker=marker,
            )
        except Exception as exc:
            if _is_missing_upload(exc):
                raise NotFound(
                    "this upload does not exist any more (finished, cancelled or expired): "
                    "start it again"
                ) from None
            raise
        found.extend(page.get("Parts", []))
        if not page.get("IsTruncated"):
            return sorted(found, key=lambda p: int(p["PartNumber"]))
        marker = int(page["NextPartNumberMarker"])


def sign(
    storage: S3Storage,
    user: User,
    key: str,
    upload_id: str,
    part_numbers: list[int],
    expires_s: int,
) -> tuple[list[tuple[int, str]], list[tuple[int, int]]]:
    """Presigned ``UploadPart`` URLs for ``part_numbers`` and the parts already stored."""
    _own(key, user)
    stored = [(int(p["PartNumber"]), int(p["Size"])) for p in parts(storage, key, upload_id)]
    urls = [
        (
            n,
            storage.raw_client.generate_presigned_url(
                "upload_part",
                Params={
                    "Bucket": storage.bucket,
                    "Key": storage.object_name(key),
                    "UploadId": upload_id,
                    "PartNumber": n,
                },
                ExpiresIn=int(expires_s),
            ),
        )
        for n in part_numbers
    ]
    return urls, stored


def abort(storage: S3Storage, user: User, key: str, upload_id: str) -> None:
    _own(key, user)
    try:
        storage.client.abort_multipart_upload(
            Bucket=storage.bucket, Key=storage.object_name(key), UploadId=upload_id
        )
    except Exception as exc:
        if not _is_missing_upload(exc):
            raise


def _delete_quietly(storage: S3Storage, key: str) -> None:
    # an orphan object costs less than hiding the request's own error
    with contextlib.suppress(Exception):
        storage.delete(key)


def complete(
    session: Session,
    storage: S3Storage,
    user: User,
    key: str,
    upload_id: str,
    *,
    scratch: Path,
    max_bytes: int,
) -> tuple[Video, bool]:
    """Finish the multipart upload and make its object a video; returns (video, created).

    413 (upload aborted) past the size limit; 422 (object deleted) when it is no usable
    video; the existing video (object deleted) when the content is known already."""
    declared = _own(key, user)
    stored = parts(storage, key, upload_id)
    numbers = [int(p["PartNumber"]) for p in stored]
    total = sum(int(p["Size"]) for p in stored)
    if total > max_bytes:
        abort(storage, user, key, upload_id)
        raise PayloadTooLarge(
            f"the upload is {total} bytes, larger than the upload limit of {max_bytes} bytes "
            "(BACKTAL_MAX_UPLOAD_BYTES); it was discarded"
        )
    if total != declared or numbers != list(range(1, len(stored) + 1)):
        missing = sorted(set(range(1, (max(numbers) if numbers else 0) + 1)) - set(numbers))
        raise BadRequest(
            f"the upload is not complete: {total} of {declared} bytes arrived"
            + (f" (parts {missing[:10]} are missing)" if missing else "")
            + "; send the missing parts, then complete it"
        )
    storage.client.complete_multipart_upload(
        Bucket=storage.bucket,
        Key=storage.object_name(key),
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [{"PartNumber": int(p["PartNumber"]), "ETag": p["ETag"]} for p in stored]
        },
    )
    head = storage.client.head_object(Bucket=storage.bucket, Key=storage.object_name(key))
    meta = {k.lower(): urllib.parse.unquote(v) for k, v in head.get("Metadata", {}).items()}
    shown = meta.get("filename") or Path(key).name
    try:
        outcome = videos.register_prefix(
            session, storage, key.rsplit("/", 1)[0] + "/", user, scratch, max_bytes=max_bytes
        )
    except BaseException:
        _delete_quietly(storage, key)
        raise
    if outcome.created:
        video = outcome.created[0]
        on_rollback(session, lambda: _delete_quietly(storage, key))
        video.original_name = shown[:255]
        if meta.get("title"):
            video.title = meta["title"][:255]
        session.flush()
        return video, True
    _delete_quietly(storage, key)  # a duplicate, or no video: the object is not kept
    if outcome.existing:
        return outcome.existing[0], False
    reason = outcome.failed[0][1] if outcome.failed else "the object could not be read"
    raise Unprocessable(f"{shown}: {reason}")


def sweep(storage: S3Storage, expire_s: float, now: float | None = None) -> int:
    """Abort direct uploads whose newest part (or start) is older than ``expire_s``."""
    cutoff = (time.time() if now is None else now) - expire_s
    aborted = 0
    kwargs: dict[str, Any] = {
        "Bucket": storage.bucket,
        "Prefix": storage.object_name(PREFIX) + "/",
    }
    while True:
        page = storage.client.list_multipart_uploads(**kwargs)
        for up in page.get("Uploads", []):
            name, upload_id = up["Key"], up["UploadId"]
            newest = _ts(up.get("Initiated"))
            try:
                listed = storage.client.list_parts(
                    Bucket=storage.bucket, Key=name, UploadId=upload_id
                )
            except Exception as exc:
                if _is_missing_upload(exc):
                    continue
                raise
            for p in listed.get("Parts", []):
                newest = max(newest, _ts(p.get("LastModified")))
            if newest < cutoff:
                storage.client.abort_multipart_upload(
                    Bucket=storage.bucket, Key=name, UploadId=upload_id
                )
                aborted += 1
        if not page.get("IsTruncated"):
            return aborted
        kwargs["KeyMarker"] = page.get("NextKeyMarker")
        kwargs["UploadIdMarker"] = page.get("NextUploadIdMarker")


def enabled(storage: Storage, s3_upload: str) -> bool:
    """Whether browsers upload straight to the bucket (S3 storage, BACKTAL_S3_UPLOAD=direct)."""
    return isinstance(storage, S3Storage) and s3_upload == "direct"


def bucket_origin(storage: Storage, s3_upload: str) -> str | None:
    """The origin browsers send parts to (the pages' Content-Security-Policy allows it), or
    None when direct uploads are off."""
    if not enabled(storage, s3_upload):
        return None
    url = storage.presigned_url("probe", 60) or ""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else None


def _ts(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else 0.0
