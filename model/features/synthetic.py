"""Generated test videos whose frames carry their own index as a readable barcode.

Each frame's top quarter is a row of black/white blocks: a white and a black reference
block, then ``BARCODE_BITS`` bits of the frame index (most significant first, white = 1).
The layout is relative to the frame size, so the index can be read back after scaling,
lossy compression or a browser's canvas. The rest of the frame moves (gradient, a bouncing
box, a little fixed noise) so codecs and optical flow have real work; the index is also
printed in digits for people looking at the clip.

Used by the tests and the benchmark; nothing here touches the network or real data.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
import cv2
import numpy as np

BARCODE_BITS = 12
_BLOCKS = BARCODE_BITS + 2  # white reference, black reference, bits
_BAND = 0.25  # fraction of the height used by the barcode


def barcode_frame(index: int, width: int, height: int) -> np.ndarray:
    """An RGB frame (H, W, 3) uint8 showing ``index`` as a barcode and as digits."""
    if not 0 <= index < 2**BARCODE_BITS:
        raise ValueError(f"index {index} does not fit in {BARCODE_BITS} bits")
    ys = np.arange(height, dtype=np.float32)[:, None]
    xs = np.arange(width, dtype=np.float32)[None, :]
    phase = index * 0.15
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[..., 0] = (127 + 100 * np.sin(xs / 23.0 + phase) * np.cos(ys / 31.0)).astype(np.uint8)
    img[..., 1] = (127 + 100 * np.cos(xs / 41.0 - phase) * np.sin(ys / 17.0 + phase)).astype(
        np.uint8
    )
    img[..., 2] = ((xs + ys + index * 3) % 256).astype(np.uint8)
    noise = np.random.default_rng(1234).integers(0, 24, size=(height, width, 1), dtype=np.uint8)
    img = np.asarray(cv2.add(img, np.repeat(noise, 3, axis=2)), dtype=np.uint8)
    # A box bouncing left-right in the lower part.
    bw, bh = max(4, width // 8), max(4, height // 6)
    span = max(1, width - bw)
    pos = index * max(1, width // 40) % (2 * span)
    x0 = pos if pos < span else 2 * span - pos
    y0 = int(height * 0.6)
    img[y0 : y0 + bh, x0 : x0 + bw] = (250, 200, 30)

    band = max(2, round(height * _BAND))
    img[:band] = 0
    for b in range(_BLOCKS):
        if b == 0:
            on = True
        elif b == 1:
            on = False
        else:
            on = bool((index >> (BARCODE_BITS - 1 - (b - 2))) & 1)
        xa, xb = round(b * width / _BLOCKS), round((b + 1) * width / _BLOCKS)
        img[:band, xa:xb] = 255 if on else 0
    scale = max(0.4, height / 240)
    cv2.putText(
        img,
        str(index),
        (max(2, width // 40), min(height - 4, band + int(34 * scale))),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        max(1, round(2 * scale)),
        cv2.LINE_AA,
    )
    return img


def read_barcode(rgb: np.ndarray) -> int | None:
    """Read the index from an RGB (or gray) frame of any size; None if unreadable."""
    gray = rgb.astype(np.float32)
    if gray.ndim == 3:
        gray = gray[..., :3].mean(axis=2)
    height, width = gray.shape
    band = max(2, round(height * _BAND))
    y0, y1 = round(band * 0.2), max(round(band * 0.8), round(band * 0.2) + 1)
    means = []
    for b in range(_BLOCKS):
        xa, xb = b * width / _BLOCKS, (b + 1) * width / _BLOCKS
        margin = (xb - xa) * 0.25
        xs0, xs1 = round(xa + margin), max(round(xb - margin), round(xa + margin) + 1)
        means.append(float(gray[y0:y1, xs0:xs1].mean()))
    white, black = means[0], means[1]
    if white - black < 100:
        return None
    threshold = (white + black) / 2
    value = 0
    for m in means[2:]:
        if abs(m - threshold) < (white - black) * 0.2:
            return None  # ambiguous block (blended frames, wrong position)
        value = (value << 1) | int(m > threshold)
    return value


def write_barcode_clip(
    path: str | os.PathLike[str],
    *,
    n_frames: int,
    fps: Fraction | int | float = 25,
    width: int = 320,
    height: int = 240,
    codec: str = "mpeg4",
    frame_fn: Callable[[int, int, int], np.ndarray] = barcode_frame,
    options: dict[str, str] | None = None,
) -> str:
    """Write a clip of ``n_frames`` barcode frames with PyAV and return its path.

    ``codec``: ``"mpeg4"`` (MPEG-4 part 2, what many cameras/OpenCV produce, not browser
    playable), ``"libx264"``, ``"mjpeg"`` (use an ``.avi`` name) or any PyAV encoder.
    """
    fspath = os.fspath(path)
    rate = Fraction(fps).limit_denominator(100000)
    with av.open(fspath, mode="w") as out:
        stream: Any = out.add_stream(codec, rate=rate)
        stream.width = width
        stream.height = height
        if codec == "mjpeg":
            stream.pix_fmt = "yuvj420p"
        else:
            stream.pix_fmt = "yuv420p"
        if codec in ("mpeg4", "mjpeg", "mpeg2video"):
            # Generous bit rate (about 0.5 bit per pixel) so the barcode stays crisp.
            stream.codec_context.bit_rate = int(width * height * float(rate) * 0.5)
        stream.codec_context.time_base = 1 / rate
        if options:
            stream.codec_context.options = dict(options)
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(frame_fn(i, width, height), format="rgb24")
            frame.pts = i
            frame.time_base = 1 / rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return fspath
