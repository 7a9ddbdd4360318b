"""Read any video as a 25 fps frame sequence cut into 16-frame snippets.

Resampling rule (the product-wide ``frame = floor(t * fps)``): output frame ``k`` is taken at
time ``k / out_fps`` and shows the source frame ``floor(k * src_fps / out_fps)`` (source frames
numbered in display order from 0, ``src_fps`` = the stream's average rate as an exact
fraction). A 30 fps source therefore skips one frame in six and a 15 fps source shows each
frame 1–2 times. The video yields ``N = ceil(n_src * out_fps / src_fps)`` output frames.

Snippets: snippet ``i`` holds output frames ``[16 i, 16 i + 16)`` and starts at
``16 i / 25`` s. The **last, partial snippet is kept** (so the whole video is covered) and
padded to 16 frames by repeating its last real frame; ``Snippet.n_valid`` says how many are
real. ``T = ceil(N / 16)``.

Frames are handed out as PyAV ``VideoFrame`` objects so each extractor converts only what it
needs (e.g. a 224×224 RGB image for one frame and small gray images for all), using
``to_array``, which also applies the display rotation.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np
from av.video.reformatter import Interpolation

from model.features.base import ExtractionCancelled, StopFn, VideoReadError


@dataclass(frozen=True)
class VideoMeta:
    src_fps: Fraction
    src_frames: int  # from the header; estimated from the duration if absent (0 if unknown)
    width: int
    height: int


@dataclass
class Snippet:
    index: int
    start_s: float
    frames: list[av.VideoFrame]  # always `snippet_frames` long (padded at the end)
    n_valid: int


def _rate(stream: Any) -> Fraction:
    for candidate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if candidate is not None and 0 < candidate <= 1000:
            return Fraction(candidate)
    raise VideoReadError("The video's frame rate could not be determined.")


@contextlib.contextmanager
def _open_video(path: str | os.PathLike[str]) -> Iterator[tuple[Any, Any]]:
    """Open the file and its first video stream; FFmpeg failures become VideoReadError."""
    try:
        container = av.open(os.fspath(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise VideoReadError("The video file cannot be opened.") from exc
    with container:
        if not container.streams.video:
            raise VideoReadError("The file has no video track.")
        try:
            yield container, container.streams.video[0]
        except av.FFmpegError as exc:
            raise VideoReadError("The video could not be decoded completely.") from exc


def read_video_meta(path: str | os.PathLike[str]) -> VideoMeta:
    with _open_video(path) as (container, stream):
        rate = _rate(stream)
        frames = stream.frames
        if not frames:
            if stream.duration and stream.time_base is not None:
                frames = math.floor(Fraction(stream.duration) * Fraction(stream.time_base) * rate)
            elif container.duration:
                frames = math.floor(Fraction(container.duration, av.time_base) * rate)
        ctx = stream.codec_context
        return VideoMeta(
            src_fps=rate, src_frames=int(frames or 0), width=ctx.width, height=ctx.height
        )


def resampled_frame_count(src_frames: int, src_fps: Fraction, out_fps: int | Fraction) -> int:
    """Number of output frames: ``ceil(src_frames * out_fps / src_fps)``."""
    return math.ceil(Fraction(src_frames) * Fraction(out_fps) / src_fps)


def snippet_count(n_frames: int, snippet_frames: int = 16) -> int:
    """T for ``n_frames`` resampled frames (last partial snippet kept)."""
    return math.ceil(n_frames / snippet_frames)


def iter_resampled_frames(
    path: str | os.PathLike[str], fps: int | Fraction = 25
) -> Iterator[tuple[int, av.VideoFrame]]:
    """Yield ``(k, frame)`` for the video resampled to ``fps`` (see the module docstring).

    A source frame repeated by upsampling is yielded as the same object several times.
    """
    out_fps = Fraction(fps)
    with _open_video(path) as (container, stream):
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = 1
        ratio = _rate(stream) / out_fps  # source frames per output frame
        k = 0
        for i, frame in enumerate(container.decode(stream)):
            # Output frame k shows source frame floor(k * ratio).
            while math.floor(k * ratio) == i:
                yield k, frame
                k += 1


def iter_snippets(
    path: str | os.PathLike[str],
    *,
    snippet_frames: int = 16,
    fps: int | Fraction = 25,
    keep_partial: bool = True,
    should_stop: StopFn | None = None,
) -> Iterator[Snippet]:
    """Yield consecutive snippets of ``snippet_frames`` resampled frames."""
    step = Fraction(snippet_frames) / Fraction(fps)
    buf: list[av.VideoFrame] = []
    index = 0
    for _k, frame in iter_resampled_frames(path, fps):
        if should_stop is not None and not buf and should_stop():
            raise ExtractionCancelled("feature extraction cancelled")
        buf.append(frame)
        if len(buf) == snippet_frames:
            yield Snippet(index, float(index * step), buf, snippet_frames)
            buf = []
            index += 1
    if buf and keep_partial:
        n_valid = len(buf)
        buf = buf + [buf[-1]] * (snippet_frames - n_valid)
        yield Snippet(index, float(index * step), buf, n_valid)


def frame_rotation(frame: av.VideoFrame) -> int:
    """Display rotation in degrees counter-clockwise (0, 90, 180 or 270)."""
    try:
        angle = round(frame.rotation or 0)
    except (AttributeError, TypeError, ValueError):
        return 0
    return angle % 360 if angle % 90 == 0 else 0


def to_array(
    frame: av.VideoFrame,
    width: int,
    height: int,
    fmt: str = "rgb24",
    interpolation: Interpolation = Interpolation.AREA,
) -> np.ndarray:
    """Convert a frame to ``(height, width[, C])`` uint8 in ``fmt``, display rotation applied."""
    rot = frame_rotation(frame)
    if rot in (90, 270):  # convert at the stored orientation, then rotate
        width, height = height, width
    arr: np.ndarray = frame.to_ndarray(
        format=fmt, width=width, height=height, interpolation=interpolation, threads=1
    )
    if rot:
        arr = np.ascontiguousarray(np.rot90(arr, k=rot // 90))
    return arr


def display_size(frame: av.VideoFrame) -> tuple[int, int]:
    """(width, height) as displayed (rotation applied)."""
    if frame_rotation(frame) in (90, 270):
        return frame.height, frame.width
    return frame.width, frame.height
