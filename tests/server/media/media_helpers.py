"""Helpers shared by the media tests (a uniquely named module, not a conftest import)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from model.features.synthetic import read_barcode


def decode_all(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def barcodes(path: Path) -> list[int | None]:
    return [read_barcode(f) for f in decode_all(path)]


def frame_at(path: Path, t: float) -> np.ndarray:
    """Decode the frame a player shows at time ``t`` (seek, then decode forward)."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        assert stream.time_base is not None
        tb = Fraction(stream.time_base)
        c.seek(int(Fraction(t).limit_denominator(10**6) / tb), stream=stream, backward=True)
        shown = None
        for frame in c.decode(stream):
            assert frame.pts is not None
            if frame.pts * tb > Fraction(t).limit_denominator(10**6):
                break
            shown = frame.to_ndarray(format="rgb24")
        assert shown is not None
        return shown


def top_level_atoms(path: Path) -> list[str]:
    """Names of the top-level MP4 boxes, in file order."""
    data = path.read_bytes()
    names, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        names.append(data[pos + 4 : pos + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if size < 8:
            break
        pos += size
    return names


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def write_rotated_clip(path: Path, n_frames: int = 5, rotation: int = 90) -> Path:
    """320×240 barcode frames stored with a display-rotation tag (like phone videos)."""
    from model.features.synthetic import barcode_frame

    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        s.set_display_rotation(rotation)
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(barcode_frame(i, 320, 240), format="rgb24")
            frame.pts = i
            for packet in s.encode(frame):
                out.mux(packet)
        for packet in s.encode(None):
            out.mux(packet)
    return path
