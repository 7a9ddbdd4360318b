"""Generated clips for the media tests (nothing read from disk outside tmp folders)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from model.features.synthetic import write_barcode_clip

NTSC = Fraction(30000, 1001)


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small barcode clips in several containers/codecs, written once per session."""
    d = tmp_path_factory.mktemp("media_clips")
    out = {
        # MPEG-4 part 2 in MP4 (what OpenCV/cameras write; not playable in browsers).
        "mp4": Path(write_barcode_clip(d / "clip.mp4", n_frames=60, fps=25, codec="mpeg4")),
        # Motion-JPEG AVI at 29.97 fps, full-range yuvj420p.
        "avi": Path(write_barcode_clip(d / "clip.avi", n_frames=45, fps=NTSC, codec="mjpeg")),
        # H.264 in Matroska: no frame count in the header (counted from packets).
        "mkv": Path(write_barcode_clip(d / "clip.mkv", n_frames=50, fps=30, codec="libx264")),
    }
    return out
