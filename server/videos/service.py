"""Videos: storing uploads, registering files in the media folder, listing, deleting."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from server.db import on_rollback
from server.errors import BadRequest, Gone, InsufficientStorage, NotFound, Unprocessable
from server.jobs import service as jobs
from server.media import MediaError, VideoProbe, probe_video
from server.models import (
    Click,
    Feature,
    JobKind,
    User,
    Video,
    VideoLabel,
    VideoStatus,
    utcnow,
)
from server.storage import ObjectNotFound, Storage, StorageError
from server.storage.files import local_copy
from server.videos.upload import ReceivedUpload, safe_stem

VIDEO_EXTENSIONS = {
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp",
    ".ogv", ".ts",
}  # fmt: skip
ORIGINALS = "originals"


def get_live_video(session: Session, video_id: int) -> Video:
    """A video that exists and is not deleted (404 / 410 otherwise)."""
    video = session.get(Video, video_id)
    if video is None:
        raise NotFound(f"video {video_id} does not exist")
    if video.deleted_at is not None:
        raise Gone(f"video {video_id} was deleted")
    return video


def list_videos(session: Session, limit: int, offset: int) -> tuple[list[Video], int]:
    live = Video.deleted_at.is_(None)
    total = session.scalar(select(func.count()).select_from(Video).where(live)) or 0
    rows = session.scalars(select(Video).where(live).order_by(Video.id).limit(limit).offset(offset))
    return list(rows), total


def find_by_sha(session: Session, sha256: str) -> Video | None:
    return session.scalar(select(Video).where(Video.sha256 == sha256, Video.deleted_at.is_(None)))


def unique_name(session: Session, stem: str) -> str:
    """``stem`` or ``stem-2``, ``stem-3``… whichever no live video uses yet."""
    taken = set(
        session.scalars(
            select(Video.name).where(
                Video.deleted_at.is_(None), (Video.name == stem) | Video.name.like(f"{stem}-%")
            )
        )
    )
    if stem not in taken:
        return stem
    n = 2
    while f"{stem}-{n}" in taken:
        n += 1
    return f"{stem}-{n}"


def probe_or_422(path: Path, shown_name: str) -> VideoProbe:
    try:
        return probe_video(path)
    except MediaError as exc:
        raise Unprocessable(f"{shown_name} is not a usable video: {exc.message}") from exc


@dataclass
class Stored:
    video: Video
    created: bool


def _new_video(
    session: Session,
    *,
    name_source: str,
    title: str | None,
    sha256: str,
    size: int,
    rel_path: str,
    probe: VideoProbe,
    user: User | None,
    process: bool = True,
) -> Video:
    """Insert a video row; with ``process`` also queue its media job (proxy, thumbnails,
    then features) in the same transaction, so no video is left without its processing."""
    name = unique_name(session, safe_stem(name_source))
    video = Video(
        name=name,
        title=(title or "").strip()[:255] or name,
        original_name=name_source[:255],
        sha256=sha256,
        size_bytes=size,
        file_path=rel_path,
        fps=probe.fps,
        frame_count=probe.frame_count,
        duration_s=probe.duration_s,
        width=probe.width,
        height=probe.height,
        status=VideoStatus.uploaded,
        created_by=user.id if user else None,
    )
    session.add(video)
    session.flush()
    if process:
        jobs.enqueue(session, JobKind.media, video_id=video.id, created_by=video.created_by)
    return video


def store_upload(
    session: Session, storage: Storage, upload: ReceivedUpload, probe: VideoProbe, user: User
) -> Stored:
    """Keep a received, probed upload: de-duplicate by content, else put it into storage.

    The object is published (complete) before the row is committed; if the transaction rolls
    back the object is removed again, so a failed request leaves neither a row nor a file.
    Storage down: 503 (nothing stored); local disk full: 507.
    """
    assert upload.tmp_path is not None and upload.filename is not None
    existing = find_by_sha(session, upload.sha256)
    if existing is not None:
        upload.discard()
        return Stored(existing, created=False)
    ext = Path(upload.filename).suffix.lower()
    ext = ext if ext in VIDEO_EXTENSIONS else ".video"
    key = f"{ORIGINALS}/{upload.sha256[:2]}/{upload.sha256}{ext}"
    try:
        size = storage.put_file(key, upload.tmp_path, move=True)
    except StorageError:
        raise
    except OSError as exc:
        raise InsufficientStorage(f"could not store the video: {exc.strerror}") from exc
    finally:
        upload.discard()
    on_rollback(session, lambda: _forget(storage, key))
    video = _new_video(
        session,
        name_source=upload.filename,
        title=upload.fields.get("title"),
        sha256=upload.sha256,
        size=size,
        rel_path=key,
        probe=probe,
        user=user,
    )
    return Stored(video, created=True)


def _forget(storage: Storage, key: str) -> None:
    """Remove an object whose row was rolled back (a failure only leaves an orphan)."""
    with contextlib.suppress(StorageError, OSError):
        storage.delete(key)


def resolve_in_media(media_dir: Path, rel: str) -> Path:
    """``rel`` inside the media folder, refusing absolute paths and escapes (``..``, links)."""
    if not rel or "\x00" in rel or Path(rel).is_absolute():
        raise BadRequest(f"path {rel!r} must be relative to the media folder")
    path = (media_dir / rel).resolve()
    if not path.is_relative_to(media_dir):
        raise BadRequest(f"path {rel!r} points outside the media folder")
    if not path.exists():
        raise NotFound(f"{rel!r} does not exist in the media folder")
    return path


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def register_files(
    session: Session, media_dir: Path, rel_paths: list[str], user: User
) -> tuple[list[Video], list[Video]]:
    """Register video files already in the media folder (all or nothing)."""
    files: list[Path] = []
    for rel in rel_paths:
        path = resolve_in_media(media_dir, rel)
        if path.is_dir():
            inside = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
            )
            if not inside:
                raise BadRequest(f"folder {rel!r} holds no video files")
            files.extend(inside)
        else:
            files.append(path)
    created: list[Video] = []
    existing: list[Video] = []
    seen: set[str] = set()
    for path in dict.fromkeys(files):
        rel = path.relative_to(media_dir).as_posix()
        if path.is_relative_to(media_dir / ORIGINALS):
            raise BadRequest(f"{rel!r} is in the server's own storage; register other files")
        probe = probe_or_422(path, rel)
        sha = _sha256_of(path)
        found = find_by_sha(session, sha)
        if found is not None or sha in seen:
            if found is not None:
                existing.append(found)
            continue
        seen.add(sha)
        created.append(
            _new_video(
                session,
                name_source=path.name,
                title=None,
                sha256=sha,
                size=path.stat().st_size,
                rel_path=rel,
                probe=probe,
                user=user,
            )
        )
    return created, existing


# Keys the server writes itself; a bucket import never registers objects under them.
OWN_PREFIXES = (f"{ORIGINALS}/", "proxies/", "thumbnails/", "features/", "models/", "tmp/")


@dataclass
class RegisterOutcome:
    created: list[Video]
    existing: list[Video]
    failed: list[tuple[str, str]]  # (key, reason)


def storage_prefix(storage: Storage, prefix: str) -> str:
    """The key prefix that ``prefix`` names: a key prefix relative to the storage root
    (``incoming/2026/``), or an ``s3://bucket/...`` URL inside the storage's bucket and
    prefix. 422 with the reason otherwise."""
    text = prefix.strip()
    if text.startswith("s3://"):
        bucket = getattr(storage, "bucket", None)
        if bucket is None:
            raise Unprocessable(f"{text!r} is a bucket URL but the storage is {storage!r}")
        b, _, rest = text[len("s3://") :].partition("/")
        root = str(getattr(storage, "prefix", ""))
        if b != bucket:
            raise Unprocessable(
                f"{text!r} is in bucket {b!r}; this server stores in bucket {bucket!r} "
                "(copy the objects there, or configure BACKTAL_STORAGE_URL)"
            )
        if root and not (rest == root or rest.startswith(root + "/")):
            raise Unprocessable(
                f"{text!r} is outside this server's storage prefix s3://{bucket}/{root}/"
            )
        text = rest[len(root) :].lstrip("/") if root else rest
    if "\x00" in text or text.startswith("/") or any(p in ("..", ".") for p in text.split("/")):
        raise BadRequest(f"prefix {prefix!r} must be relative to the storage root")
    return text


def register_prefix(
    session: Session,
    storage: Storage,
    prefix: str,
    user: User | None,
    scratch: Path,
    *,
    max_bytes: int,
    only: list[str] | None = None,
) -> RegisterOutcome:
    """Register every object under ``prefix`` that is not yet a video (bucket import).

    Objects stay where they are (the video's file is that key). Each new object is copied
    to ``scratch`` (local backend: read in place), probed and hashed; one that is no usable
    video, or is larger than ``max_bytes``, is listed in ``failed`` with the reason and the
    rest are imported. Running it again adds only what is new: a key that a live video
    already uses, or content already registered, is listed in ``existing``."""
    key_prefix = storage_prefix(storage, prefix)
    objects = [o for o in storage.list(key_prefix) if not o.key.startswith(OWN_PREFIXES)]
    if not objects:
        raise NotFound(f"no objects under {prefix!r} in {storage!r}")
    keys = [o.key for o in objects]
    by_key: dict[str, Video] = {}
    for chunk in range(0, len(keys), 500):
        for v in session.scalars(
            select(Video).where(
                Video.deleted_at.is_(None), Video.file_path.in_(keys[chunk : chunk + 500])
            )
        ):
            by_key.setdefault(v.file_path, v)
    out = RegisterOutcome([], [], [])
    seen: set[str] = set()
    for obj in objects:
        if obj.key in by_key:
            out.existing.append(by_key[obj.key])
            continue
        if obj.size == 0:
            out.failed.append((obj.key, "the object is empty (0 bytes)"))
            continue
        if obj.size > max_bytes:
            out.failed.append(
                (obj.key, f"{obj.size} bytes is more than the upload limit of {max_bytes}")
            )
            continue
        try:
            with local_copy(storage, obj.key, scratch) as path:
                probe = probe_video(path)
                sha = _sha256_of(path)
        except MediaError as exc:
            out.failed.append((obj.key, f"not a usable video: {exc.message}"))
            continue
        except ObjectNotFound:
            out.failed.append((obj.key, "the object disappeared while it was being read"))
            continue
        found = find_by_sha(session, sha)
        if found is not None or sha in seen:
            if found is not None:
                out.existing.append(found)
            continue
        seen.add(sha)
        out.created.append(
            _new_video(
                session,
                name_source=Path(obj.key).name,
                title=None,
                sha256=sha,
                size=obj.size,
                rel_path=obj.key,
                probe=probe,
                user=user,
            )
        )
    return out


def create_video_record(
    session: Session,
    *,
    name: str,
    fps: float,
    frame_count: int,
    width: int = 0,
    height: int = 0,
    original_name: str | None = None,
    duration_s: float | None = None,
) -> Video:
    """A video row without a file on disk (e.g. a dataset imported from features only)."""
    probe = VideoProbe(
        fps=fps,
        frame_count=frame_count,
        duration_s=duration_s if duration_s is not None else frame_count / fps,
        width=width,
        height=height,
        codec="none",
    )
    return _new_video(
        session,
        name_source=original_name or f"{name}.mp4",
        title=name,
        sha256=hashlib.sha256(f"record:{name}".encode()).hexdigest(),
        size=0,
        rel_path="",
        probe=probe,
        user=None,
        process=False,
    )


def delete_video(session: Session, video_id: int) -> None:
    """Soft delete: the row and its clicks stay for the record; the video leaves every list."""
    video = get_live_video(session, video_id)
    video.deleted_at = utcnow()
    session.flush()


def set_validation(session: Session, video_id: int, is_validation: bool) -> Video:
    """Mark a video as validation (it leaves every training set; its segments — imported
    ground truth or drawn — measure each trained version) or back as a training video."""
    video = get_live_video(session, video_id)
    video.is_validation = is_validation
    session.flush()
    return video


def file_key(video: Video) -> str:
    """The storage key of the video's original (404 if it has none)."""
    if not video.file_path:
        raise NotFound(f"video {video.id} has no file on the server")
    return video.file_path


def features_of(session: Session, video_ids: list[int]) -> dict[int, Feature]:
    """The newest feature row of each video (if any); rows of the same instant: the later id."""
    out: dict[int, Feature] = {}
    if not video_ids:
        return out
    rows = session.scalars(
        select(Feature)
        .where(Feature.video_id.in_(video_ids))
        .order_by(Feature.created_at, Feature.id)
    )
    for row in rows:
        out[row.video_id] = row
    return out


def media_key(video: Video, which: str) -> str:
    """The storage key of a derived file: ``proxy`` or ``thumbnails`` (the sprite index)."""
    key = video.proxy_path if which == "proxy" else video.thumbnails_path
    if not key:
        raise NotFound(f"video {video.id} has no {which} yet (status: {video.status.value})")
    return key


def _unannotated(user_id: int) -> Any:
    """SQL condition: the user has neither a live click nor a label on the video."""
    has_click = exists().where(
        Click.video_id == Video.id, Click.annotator_id == user_id, Click.deleted_at.is_(None)
    )
    has_label = exists().where(VideoLabel.video_id == Video.id, VideoLabel.annotator_id == user_id)
    return and_(~has_click, ~has_label)


def next_unannotated(session: Session, user_id: int, after: int | None) -> int | None:
    """The next live video (after ``after``, wrapping around) the user has not annotated."""
    base = select(Video.id).where(
        Video.deleted_at.is_(None), Video.status != VideoStatus.failed, _unannotated(user_id)
    )
    if after is not None:
        found = session.scalar(base.where(Video.id > after).order_by(Video.id).limit(1))
        if found is not None:
            return int(found)
    found = session.scalar(base.order_by(Video.id).limit(1))
    return int(found) if found is not None else None


def next_in_list(session: Session, after: int) -> int | None:
    """The next live video in list order (None after the last)."""
    found = session.scalar(
        select(Video.id)
        .where(Video.deleted_at.is_(None), Video.id > after)
        .order_by(Video.id)
        .limit(1)
    )
    return int(found) if found is not None else None
