"""Generated clips for the feature tests."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from model.features.synthetic import barcode_frame, write_barcode_clip


@pytest.fixture(scope="session")
def feature_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("feature_clips")

    def still(i: int, w: int, h: int) -> np.ndarray:
        return barcode_frame(0, w, h)

    small: dict[str, Any] = {"width": 160, "height": 120, "codec": "libx264"}
    return {
        # 40 frames at 25 fps -> 40 resampled frames -> 3 snippets (16, 16, 8 real frames).
        "pal": Path(write_barcode_clip(d / "pal.mp4", n_frames=40, fps=25, **small)),
        # 48 frames at 29.97 fps -> ceil(48 * 25 / 29.97) = 41 frames -> 3 snippets.
        "ntsc": Path(
            write_barcode_clip(d / "ntsc.mp4", n_frames=48, fps=Fraction(30000, 1001), **small)
        ),
        # 15 fps: each frame is shown 1-2 times after resampling. 20 frames -> 34 -> 3.
        "slow": Path(write_barcode_clip(d / "slow.mkv", n_frames=20, fps=15, **small)),
        # Nothing moves.
        "still": Path(
            write_barcode_clip(d / "still.mp4", n_frames=32, fps=25, frame_fn=still, **small)
        ),
    }
