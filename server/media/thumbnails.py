"""Thumbnail sprite for the timeline: one JPEG grid of small frames plus a JSON-able index.

Tile ``j`` shows the frame at ``t_j = j * every_s`` (frame ``floor(t_j * fps)``, the
product-wide rule) and sits at ``x = (j % columns) * tile_width``,
``y = (j // columns) * tile_height`` in the sprite. The video is decoded sequentially (no
per-tile seeks, which would decode whole GOPs again), so pass the proxy rather than the
original when you have it: it is small and cheap to decode.

Long videos: the number of tiles is capped (``max_tiles``, and JPEG's 65,500-pixel limit);
``every_s`` is then multiplied by the smallest integer that fits, and the index says which
interval was used.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
import cv2
import numpy as np
from av.video.reformatter import Interpolation

from server.housekeeping.tempfiles import temp_path
from server.media.errors import MediaCancelled, MediaError
from server.media.probe import estimated_frames, frame_rotation, open_video_stream

JPEG_MAX_SIDE = 65500


def make_thumbnail_sprite(
    src: str | os.PathLike[str],
    dst_jpg: str | os.PathLike[str],
    *,
    every_s: float = 1.0,
    tile_width: int = 160,
    columns: int = 10,
    max_tiles: int = 3600,
    quality: int = 80,
    index_path: str | os.PathLike[str] | None = None,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Write the sprite to ``dst_jpg`` (atomically) and return its index.

    The index: ``{"image", "width", "height", "tile_width", "tile_height", "columns", "rows",
    "count", "every_s", "fps", "times": [s, ...], "frames": [i, ...]}``. With ``index_path``
    the index is also written there as JSON (atomically).
    """
    if every_s <= 0 or tile_width < 2 or columns < 1 or max_tiles < 1:
        raise ValueError("every_s, tile_width, columns and max_tiles must be positive")
    src_path, dst_path = os.fspath(src), os.fspath(dst_jpg)
    container, stream, rate = open_video_stream(
        src_path, "The video cannot be opened to make thumbnails."
    )
    tiles: list[np.ndarray] = []
    frames: list[int] = []
    with container:
        total = estimated_frames(container, stream, rate)
        step_s = Fraction(every_s).limit_denominator(1000)

        tile_w = tile_width
        tile_h = 0
        wanted: list[int] = []
        next_pos = 0
        try:
            for i, frame in enumerate(container.decode(stream)):
                if should_stop is not None and should_stop():
                    raise MediaCancelled("thumbnail sprite cancelled")
                if i == 0:
                    rot = frame_rotation(frame)
                    w, h = (
                        (frame.height, frame.width)
                        if rot in (90, 270)
                        else (frame.width, frame.height)
                    )
                    tile_h = max(2, round(tile_w * h / w))
                    limit = min(max_tiles, columns * max(1, JPEG_MAX_SIDE // tile_h))
                    # Unknown length: take tiles until the frames run out.
                    n = math.ceil(Fraction(total) / rate / step_s) if total else limit
                    n = max(1, n)
                    if n > limit:
                        step_s *= math.ceil(Fraction(n, limit))
                        n = math.ceil(Fraction(max(total, 1)) / rate / step_s)
                    wanted = [math.floor(j * step_s * rate) for j in range(min(n, limit))]
                if next_pos >= len(wanted):
                    break
                if i < wanted[next_pos]:
                    continue
                rgb: np.ndarray = frame.to_ndarray(
                    format="bgr24",
                    width=tile_w if rot not in (90, 270) else tile_h,
                    height=tile_h if rot not in (90, 270) else tile_w,
                    interpolation=Interpolation.AREA,
                )
                if rot:
                    rgb = np.ascontiguousarray(np.rot90(rgb, k=rot // 90))
                while next_pos < len(wanted) and wanted[next_pos] <= i:
                    tiles.append(rgb)
                    frames.append(i)
                    next_pos += 1
                if progress is not None:
                    progress(min(0.99, next_pos / max(1, len(wanted))))
        except av.FFmpegError as exc:
            if not tiles:
                raise MediaError("The video could not be decoded to make thumbnails.") from exc

    if not tiles:
        raise MediaError("The video contains no frames.")
    count = len(tiles)
    rows = math.ceil(count / columns)
    cols_used = min(columns, count)
    sprite = np.zeros((rows * tile_h, cols_used * tile_w, 3), dtype=np.uint8)
    for j, tile in enumerate(tiles):
        y, x = (j // columns) * tile_h, (j % columns) * tile_w
        sprite[y : y + tile_h, x : x + tile_w] = tile
    ok, encoded = cv2.imencode(".jpg", sprite, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise MediaError("The thumbnail image could not be encoded.")
    _atomic_write(dst_path, encoded.tobytes())

    index = {
        "image": os.path.basename(dst_path),
        "width": int(sprite.shape[1]),
        "height": int(sprite.shape[0]),
        "tile_width": int(tile_w),
        "tile_height": int(tile_h),
        "columns": int(columns),
        "rows": int(rows),
        "count": count,
        "every_s": float(step_s),
        "fps": float(rate),
        "times": [float(j * step_s) for j in range(count)],
        "frames": frames,
    }
    if index_path is not None:
        _atomic_write(os.fspath(index_path), json.dumps(index).encode())
    if progress is not None:
        progress(1.0)
    return index


def _atomic_write(path: str, data: bytes) -> None:
    tmp = temp_path(path)  # names its writer: a dead writer's file gets swept
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
