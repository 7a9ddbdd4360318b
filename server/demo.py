"""A small generated demo data set: videos with planted actions, classes and users.

The clips are drawn with numpy and encoded in-process (PyAV's libx264, browser-playable):
a textured scene with a slow camera pan; actions are objects that move in a class-typical
way (a ball that bounces, a bar that spins), preceded by a "context" moment where the
object is present but still (what background clicks are for). The ground truth of every
clip is returned so it can be imported for evaluation.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CLASSES = ["Bounce", "Spin"]


@dataclass(frozen=True)
class DemoClip:
    name: str
    duration_s: float
    segments: list[tuple[float, float, str]]  # (start_s, end_s, class name)


def demo_plan(n_videos: int = 6, seed: int = 0) -> list[DemoClip]:
    rng = np.random.default_rng(seed)
    clips = []
    for i in range(n_videos):
        duration = float(rng.integers(16, 25))
        classes = [CLASSES[i % 2]] if i < 4 else list(CLASSES)
        segments: list[tuple[float, float, str]] = []
        t = float(rng.uniform(2.0, 4.0))
        while t + 3.0 < duration - 1.0:
            length = float(rng.uniform(2.0, 3.5))
            segments.append(
                (
                    round(t, 2),
                    round(min(t + length, duration - 0.5), 2),
                    classes[len(segments) % len(classes)],
                )
            )
            t += length + float(rng.uniform(3.0, 6.0))
        clips.append(DemoClip(f"demo_{i + 1:02d}", duration, segments))
    return clips


def _frame(clip: DemoClip, k: int, fps: int, w: int, h: int, bg: np.ndarray) -> np.ndarray:
    t = k / fps
    shift = int(8 * math.sin(t / 3.0))
    img = np.roll(bg, shift, axis=1).copy()
    active = [s for s in clip.segments if s[0] <= t < s[1]]
    context = [s for s in clip.segments if s[0] - 1.5 <= t < s[0] or s[1] <= t < s[1] + 1.0]
    cx, cy = w // 2, h // 2
    if active:
        start, _end, cls = active[0]
        phase = (t - start) * 2 * math.pi
        if cls == "Bounce":
            y = int(cy + 50 * abs(math.sin(phase)) - 25)
            _disc(img, cx, y, 18, (230, 60, 40))
        else:
            _bar(img, cx, cy, 50, phase, (40, 120, 230))
    elif context:
        cls = context[0][2]
        if cls == "Bounce":
            _disc(img, cx, cy + 25, 18, (230, 60, 40))
        else:
            _bar(img, cx, cy, 50, 0.0, (40, 120, 230))
    # Frame counter: 12-bit barcode in the top-left corner (white = 1), for timing tests.
    for bit in range(12):
        on = (k >> bit) & 1
        img[0:8, bit * 8 : bit * 8 + 8] = 255 if on else 0
    return img


def _disc(img: np.ndarray, x: int, y: int, r: int, color: tuple[int, int, int]) -> None:
    yy, xx = np.ogrid[: img.shape[0], : img.shape[1]]
    img[(xx - x) ** 2 + (yy - y) ** 2 <= r * r] = color


def _bar(
    img: np.ndarray, x: int, y: int, r: int, angle: float, color: tuple[int, int, int]
) -> None:
    for s in np.linspace(-r, r, 4 * r):
        px, py = int(x + s * math.cos(angle)), int(y + s * math.sin(angle))
        img[max(py - 3, 0) : py + 3, max(px - 3, 0) : px + 3] = color


def write_clip(clip: DemoClip, path: Path, fps: int = 25, w: int = 320, h: int = 240) -> None:
    rng = np.random.default_rng(zlib.crc32(clip.name.encode()))
    base = rng.integers(40, 120, size=(h // 8, w // 8, 3), dtype=np.uint8)
    bg = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=Fraction(fps, 1))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "26"}
        for k in range(int(clip.duration_s * fps)):
            frame = av.VideoFrame.from_ndarray(_frame(clip, k, fps, w, h, bg), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    tmp.replace(path)


def ground_truth(clips: list[DemoClip]) -> dict[str, object]:
    """ActivityNet-style ground truth of the demo clips."""
    return {
        "database": {
            c.name: {
                "subset": "validation",
                "duration": c.duration_s,
                "fps": 25,
                "annotations": [{"segment": [s, e], "label": cls} for s, e, cls in c.segments],
            }
            for c in clips
        },
        "activity_list": CLASSES,
    }
