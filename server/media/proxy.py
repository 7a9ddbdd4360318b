"""Browser-playable proxy: H.264 (yuv420p) in a fast-start MP4, encoded in-process.

Encoding uses the libx264 that ships inside PyAV's wheel (no system ffmpeg). Choices:

* **Frame-exact timing.** Every decoded frame of the original becomes one proxy frame, in
  order, with ``pts = i`` in a time base of ``1 / fps`` (``fps`` = the original's average
  rate as an exact fraction, e.g. 30000/1001). The proxy is therefore constant frame rate
  and the frame a player shows at time ``t`` is the original's frame ``floor(t * fps)``,
  the product-wide rule. (For a variable-frame-rate original this *defines* time by frame
  index, as the rest of the product does.)
* **No B-frames**, a keyframe at least every second: decode order equals display order,
  no MP4 edit list shifts the start, and browser seeks stay fast.
* **Fast start**: ``movflags=+faststart`` moves the ``moov`` atom in front of ``mdat`` so a
  browser can start playing (and seeking with Range requests) before it has the whole file.
* Height is capped at ``max_height`` (aspect kept, display aspect and rotation applied) and
  both dimensions are made even, as yuv420p requires.
* The file is written under a temporary name in the destination folder and moved into place
  with ``os.replace``; an error or a cancel leaves no partial file behind.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np
from av.video.reformatter import ColorRange, Interpolation

from server.housekeeping.tempfiles import temp_path
from server.media.errors import MediaCancelled, MediaError
from server.media.probe import estimated_frames, frame_rotation, open_video_stream

ProgressFn = Callable[[float], None]
StopFn = Callable[[], bool]


@dataclass(frozen=True)
class ProxyInfo:
    path: str
    width: int
    height: int
    fps: float
    frame_count: int
    duration_s: float
    size_bytes: int
    codec: str = "h264"
    pix_fmt: str = "yuv420p"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def proxy_size(
    width: int, height: int, *, max_height: int | None, sar: Fraction | None = None
) -> tuple[int, int]:
    """Output (width, height): square pixels, height ≤ max_height, both even and ≥ 2."""
    display_w = Fraction(width) * (sar if sar and sar > 0 else 1)
    out_h = height if not max_height or height <= max_height else max_height
    out_w = display_w * out_h / height
    even_w = max(2, round(out_w) // 2 * 2)
    even_h = max(2, int(out_h) // 2 * 2)
    return even_w, even_h


def make_proxy(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    max_height: int | None = 480,
    crf: int = 23,
    preset: str = "veryfast",
    threads: int = 0,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> ProxyInfo:
    """Transcode ``src`` into a browser-playable MP4 at ``dst`` (atomically).

    ``progress(fraction)`` is called with values in [0, 1] (1.0 once ``dst`` is in place);
    ``should_stop()`` is polled between frames and makes this raise ``MediaCancelled``.
    ``threads`` is libx264's thread count (0 = automatic). Raises ``MediaError`` for an
    unreadable source.
    """
    src_path, dst_path = os.fspath(src), os.fspath(dst)
    tmp_path = temp_path(dst_path)  # names its writer: a dead writer's file gets swept
    container, stream, rate = open_video_stream(
        src_path, "The original video cannot be opened for conversion."
    )
    try:
        with container:
            expected = estimated_frames(container, stream, rate)
            frames = _transcode(
                container,
                stream,
                rate,
                tmp_path,
                max_height=max_height,
                crf=crf,
                preset=preset,
                threads=threads,
                expected=expected,
                progress=progress,
                should_stop=should_stop,
            )
        out_w, out_h, count = frames
        os.replace(tmp_path, dst_path)
    except BaseException:
        _remove_quietly(tmp_path)
        raise

    if progress is not None:
        progress(1.0)
    return ProxyInfo(
        path=dst_path,
        width=out_w,
        height=out_h,
        fps=float(rate),
        frame_count=count,
        duration_s=float(Fraction(count) / rate),
        size_bytes=os.path.getsize(dst_path),
    )


def _transcode(
    container: av.container.InputContainer,
    stream: Any,
    rate: Fraction,
    tmp_path: str,
    *,
    max_height: int | None,
    crf: int,
    preset: str,
    threads: int,
    expected: int,
    progress: ProgressFn | None,
    should_stop: StopFn | None,
) -> tuple[int, int, int]:
    time_base = Fraction(1) / rate
    out = av.open(tmp_path, mode="w", format="mp4", options={"movflags": "+faststart"})
    try:
        ostream: Any = None
        size: tuple[int, int] = (0, 0)
        rotation = 0
        count = 0
        step = max(1, expected // 200) if expected else 25
        try:
            for frame in container.decode(stream):
                if should_stop is not None and should_stop():
                    raise MediaCancelled("proxy conversion cancelled")
                if ostream is None:
                    rotation = frame_rotation(frame)
                    w, h = (
                        (frame.height, frame.width)
                        if rotation in (90, 270)
                        else (
                            frame.width,
                            frame.height,
                        )
                    )
                    sar = stream.sample_aspect_ratio
                    size = proxy_size(
                        w, h, max_height=max_height, sar=Fraction(sar) if sar else None
                    )
                    ostream = _open_output_stream(out, stream, rate, size, crf, preset, threads)
                out_frame = _convert(frame, size, rotation)
                out_frame.pts = count
                out_frame.time_base = time_base
                for packet in ostream.encode(out_frame):
                    out.mux(packet)
                count += 1
                if progress is not None and count % step == 0 and expected:
                    progress(min(0.99, count / expected))
        except av.FFmpegError as exc:
            raise MediaError(
                f"The video could not be decoded completely (stopped after {count} frames)."
            ) from exc
        if ostream is None or count == 0:
            raise MediaError("The video contains no frames.")
        for packet in ostream.encode(None):
            out.mux(packet)
    finally:
        out.close()  # writes the moov atom (moved to the front by +faststart)
    return size[0], size[1], count


def _open_output_stream(
    out: av.container.OutputContainer,
    src_stream: Any,
    rate: Fraction,
    size: tuple[int, int],
    crf: int,
    preset: str,
    threads: int,
) -> Any:
    ostream = out.add_stream("libx264", rate=rate)
    ostream.width, ostream.height = size
    ostream.pix_fmt = "yuv420p"
    ctx = ostream.codec_context
    ctx.time_base = Fraction(1) / rate
    ctx.thread_count = threads
    keyint = max(1, round(rate))
    ctx.options = {
        "crf": str(crf),
        "preset": preset,
        "bf": "0",
        "g": str(keyint),
        "keyint_min": str(keyint),
    }
    src_ctx = src_stream.codec_context
    # Keep the original's colour description (what a browser uses to convert to RGB);
    # 2 = "unspecified" in FFmpeg's enums.
    for attr in ("colorspace", "color_primaries", "color_trc"):
        value = getattr(src_ctx, attr, 2)
        if value not in (None, 2):
            setattr(ctx, attr, value)
    ctx.color_range = int(ColorRange.MPEG)
    return ostream


def _convert(frame: av.VideoFrame, size: tuple[int, int], rotation: int) -> av.VideoFrame:
    if rotation in (90, 180, 270):
        rgb: np.ndarray = frame.to_ndarray(format="rgb24")
        frame = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(np.rot90(rgb, k=rotation // 90)), format="rgb24"
        )
    downscale = size[1] < frame.height
    src_range = frame.color_range if frame.color_range == int(ColorRange.JPEG) else None
    return frame.reformat(
        width=size[0],
        height=size[1],
        format="yuv420p",
        interpolation=Interpolation.AREA if downscale else Interpolation.BILINEAR,
        src_color_range=src_range,
        dst_color_range=ColorRange.MPEG,
    )


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
