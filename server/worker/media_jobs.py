"""Handlers of ``media`` jobs (proxy + thumbnails) and ``features`` jobs."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.features.service import FEATURES, save_npy_atomic
from server.jobs import service as jobs
from server.media import MediaCancelled, MediaError, make_proxy, make_thumbnail_sprite
from server.models import Feature, JobKind, Video, VideoStatus
from server.worker.context import JobCancelled, JobContext, PermanentJobError

PROXIES = "proxies"
THUMBNAILS = "thumbnails"


def _video(ctx: JobContext) -> tuple[int, Path]:
    """The job's live video and its source file (PermanentJobError if unusable)."""
    if ctx.video_id is None:
        raise PermanentJobError("the job names no video")
    with ctx.session() as s:
        video = s.get(Video, ctx.video_id)
        if video is None or video.deleted_at is not None:
            raise JobCancelled(f"video {ctx.video_id} was deleted")
        if not video.file_path:
            raise PermanentJobError(f"video {video.id} has no file")
        path = ctx.settings.media_dir / video.file_path
        if video.status != VideoStatus.processing:
            video.status = VideoStatus.processing
            video.status_message = None
    if not path.is_file():
        raise PermanentJobError(f"the file of video {ctx.video_id} is missing")
    return ctx.video_id, path


def run_media(ctx: JobContext) -> Callable[[Session], str | None]:
    """Browser-playable proxy, then a thumbnail sprite; queues the features job."""
    video_id, src = _video(ctx)
    media = ctx.settings.media_dir
    proxy_rel = Path(PROXIES) / f"{video_id}.mp4"
    sprite_rel = Path(THUMBNAILS) / f"{video_id}.jpg"
    index_rel = Path(THUMBNAILS) / f"{video_id}.json"
    (media / PROXIES).mkdir(parents=True, exist_ok=True)
    (media / THUMBNAILS).mkdir(parents=True, exist_ok=True)
    try:
        ctx.progress(0.0, "making the browser proxy", force=True)
        info = make_proxy(
            src,
            media / proxy_rel,
            max_height=ctx.settings.proxy_max_height,
            threads=1,
            progress=lambda f: ctx.progress(0.8 * f, "making the browser proxy"),
            should_stop=ctx.should_stop,
        )
        ctx.log(f"proxy {info.width}x{info.height}, {info.frame_count} frames, {info.size_bytes} B")
        ctx.progress(0.8, "making thumbnails", force=True)
        index = make_thumbnail_sprite(
            media / proxy_rel,
            media / sprite_rel,
            every_s=ctx.settings.thumbnail_every_s,
            index_path=media / index_rel,
            progress=lambda f: ctx.progress(0.8 + 0.2 * f, "making thumbnails"),
            should_stop=ctx.should_stop,
        )
        ctx.log(f"thumbnails: {index['count']} tiles")
    except MediaCancelled as exc:
        raise JobCancelled(str(exc)) from exc
    except MediaError as exc:
        raise PermanentJobError(exc.message) from exc
    extractor = ctx.params.get("extractor") or ctx.settings.feature_extractor

    def publish(s: Session) -> str:
        video = s.get(Video, video_id)
        if video is None or video.deleted_at is not None:
            return "video was deleted meanwhile"
        video.proxy_path = proxy_rel.as_posix()
        video.thumbnails_path = index_rel.as_posix()
        jobs.enqueue(
            s,
            JobKind.features,
            {"extractor": extractor},
            video_id=video_id,
            max_attempts=ctx.settings.job_max_attempts,
        )
        return "proxy and thumbnails ready; features queued"

    return publish


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def run_features(ctx: JobContext) -> Callable[[Session], str | None]:
    """Per-snippet features ``(T, D)`` of the original video, saved as ``.npy``."""
    from model.features import ExtractionCancelled, VideoReadError, get_extractor

    video_id, src = _video(ctx)
    name = str(ctx.params.get("extractor") or ctx.settings.feature_extractor)
    try:
        extractor = get_extractor(name)
    except KeyError as exc:
        raise PermanentJobError(str(exc.args[0])) from exc
    ctx.progress(0.0, f"extracting features ({name})", force=True)
    try:
        feats = extractor.extract(
            src,
            progress=lambda f: ctx.progress(0.98 * f, f"extracting features ({name})"),
            should_stop=ctx.should_stop,
        )
    except ExtractionCancelled as exc:
        raise JobCancelled(str(exc)) from exc
    except MediaError as exc:
        raise PermanentJobError(exc.message) from exc
    except VideoReadError as exc:
        raise PermanentJobError(str(exc)) from exc
    feats = np.ascontiguousarray(feats, dtype=np.float32)
    if feats.ndim != 2 or feats.shape[0] == 0:
        raise PermanentJobError(f"the extractor returned no snippets (shape {feats.shape})")
    ctx.check_stop()
    rel = Path(FEATURES) / str(video_id) / f"{_safe(name)}.npy"
    save_npy_atomic(ctx.settings.media_dir / rel, feats)
    ctx.log(f"features {feats.shape[0]} x {feats.shape[1]} ({name})")

    def publish(s: Session) -> str:
        video = s.get(Video, video_id)
        if video is None or video.deleted_at is not None:
            return "video was deleted meanwhile"
        row = s.scalar(
            select(Feature).where(Feature.video_id == video_id, Feature.extractor == name)
        )
        if row is None:
            row = Feature(video_id=video_id, extractor=name, num_snippets=0, dim=0, path="")
            s.add(row)
        row.num_snippets, row.dim, row.path = feats.shape[0], feats.shape[1], rel.as_posix()
        video.status = VideoStatus.ready
        video.status_message = None
        s.flush()
        return f"features ready: T={feats.shape[0]}, D={feats.shape[1]}"

    return publish
