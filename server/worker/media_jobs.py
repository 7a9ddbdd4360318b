"""Handlers of ``media`` jobs (proxy + thumbnails) and ``features`` jobs."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.features.service import FEATURES
from server.jobs import service as jobs
from server.media import MediaCancelled, MediaError, make_proxy, make_thumbnail_sprite
from server.models import Feature, JobKind, Video, VideoStatus
from server.predictions import service as predictions
from server.storage import ObjectNotFound
from server.storage.files import local_copy, npy_bytes
from server.worker.context import JobCancelled, JobContext, PermanentJobError

PROXIES = "proxies"
THUMBNAILS = "thumbnails"


def _video(ctx: JobContext) -> tuple[int, str]:
    """The job's live video and the storage key of its original (PermanentJobError if
    unusable)."""
    if ctx.video_id is None:
        raise PermanentJobError("the job names no video")
    with ctx.session() as s:
        video = s.get(Video, ctx.video_id)
        if video is None or video.deleted_at is not None:
            raise JobCancelled(f"video {ctx.video_id} was deleted")
        if not video.file_path:
            raise PermanentJobError(f"video {video.id} has no file")
        key = video.file_path
        if video.status != VideoStatus.processing:
            video.status = VideoStatus.processing
            video.status_message = None
    return ctx.video_id, key


@contextlib.contextmanager
def _original(ctx: JobContext, key: str, work: Path) -> Iterator[Path]:
    """The original as a local file (the media folder's own, or a copy in ``work``)."""
    try:
        with local_copy(ctx.store(), key, work) as path:
            yield path
    except ObjectNotFound as exc:
        raise PermanentJobError(f"the file of video {ctx.video_id} is missing") from exc


def run_media(ctx: JobContext) -> Callable[[Session], str | None]:
    """Browser-playable proxy, then a thumbnail sprite; queues the features job.

    Made in the job's scratch folder, then put into storage (each object complete or
    absent); the video row points to them only when the job publishes."""
    video_id, key = _video(ctx)
    storage = ctx.store()
    proxy_key = f"{PROXIES}/{video_id}.mp4"
    sprite_key = f"{THUMBNAILS}/{video_id}.jpg"
    index_key = f"{THUMBNAILS}/{video_id}.json"
    with ctx.work_dir() as work:
        proxy, sprite, index_file = (
            work / f"{video_id}.mp4",
            work / f"{video_id}.jpg",
            work / "index.json",
        )
        try:
            ctx.progress(0.0, "making the browser proxy", force=True)
            with _original(ctx, key, work) as src:
                info = make_proxy(
                    src,
                    proxy,
                    max_height=ctx.settings.proxy_max_height,
                    threads=1,
                    progress=lambda f: ctx.progress(0.75 * f, "making the browser proxy"),
                    should_stop=ctx.should_stop,
                )
            ctx.log(
                f"proxy {info.width}x{info.height}, {info.frame_count} frames, {info.size_bytes} B"
            )
            ctx.progress(0.75, "making thumbnails", force=True)
            index = make_thumbnail_sprite(
                proxy,
                sprite,
                every_s=ctx.settings.thumbnail_every_s,
                index_path=index_file,
                progress=lambda f: ctx.progress(0.75 + 0.2 * f, "making thumbnails"),
                should_stop=ctx.should_stop,
            )
            ctx.log(f"thumbnails: {index['count']} tiles")
        except MediaCancelled as exc:
            raise JobCancelled(str(exc)) from exc
        except MediaError as exc:
            raise PermanentJobError(exc.message) from exc
        ctx.check_stop()
        ctx.progress(0.95, "storing the proxy and thumbnails", force=True)
        storage.put_file(sprite_key, sprite, move=True)
        storage.put_file(index_key, index_file, move=True)
        storage.put_file(proxy_key, proxy, move=True)
    extractor = ctx.params.get("extractor") or ctx.settings.feature_extractor

    def publish(s: Session) -> str:
        video = s.get(Video, video_id)
        if video is None or video.deleted_at is not None:
            return "video was deleted meanwhile"
        video.proxy_path = proxy_key
        video.thumbnails_path = index_key
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

    video_id, key = _video(ctx)
    name = str(ctx.params.get("extractor") or ctx.settings.feature_extractor)
    try:
        extractor = get_extractor(name)
    except KeyError as exc:
        raise PermanentJobError(str(exc.args[0])) from exc
    ctx.progress(0.0, f"extracting features ({name})", force=True)
    try:
        with ctx.work_dir() as work, _original(ctx, key, work) as src:
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
    feature_key = f"{FEATURES}/{video_id}/{_safe(name)}.npy"
    ctx.store().put_bytes(feature_key, npy_bytes(feats))
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
        row.num_snippets, row.dim, row.path = feats.shape[0], feats.shape[1], feature_key
        video.status = VideoStatus.ready
        video.status_message = None
        s.flush()
        done = f"features ready: T={feats.shape[0]}, D={feats.shape[1]}"
        # the active model version predicts the video (one job covers many new videos)
        job = predictions.queue_for_videos(
            s, [video_id], max_attempts=ctx.settings.job_max_attempts
        )
        return done + (f"; predictions queued (job {job.id})" if job is not None else "")

    return publish
