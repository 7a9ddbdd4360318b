"""25 fps resampling (frame = floor(t·fps)) and 16-frame snippets."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest

from model.features import ExtractionCancelled, iter_resampled_frames, iter_snippets
from model.features.frames import (
    read_video_meta,
    resampled_frame_count,
    snippet_count,
    to_array,
)
from model.features.synthetic import read_barcode


@pytest.mark.parametrize(
    ("key", "src_fps", "src_frames"),
    [("pal", Fraction(25), 40), ("ntsc", Fraction(30000, 1001), 48), ("slow", Fraction(15), 20)],
)
def test_resampling_follows_floor_rule(
    feature_clips: dict[str, Path], key: str, src_fps: Fraction, src_frames: int
):
    meta = read_video_meta(feature_clips[key])
    assert meta.src_fps == src_fps and meta.src_frames == src_frames
    got = [
        (k, read_barcode(to_array(f, 160, 120)))
        for k, f in iter_resampled_frames(feature_clips[key], 25)
    ]
    n_out = resampled_frame_count(src_frames, src_fps, 25)
    assert n_out == math.ceil(src_frames * 25 / src_fps)
    assert [k for k, _ in got] == list(range(n_out))
    # Output frame k at time k/25 shows source frame floor((k/25) * src_fps).
    assert [idx for _, idx in got] == [math.floor(Fraction(k, 25) * src_fps) for k in range(n_out)]


def test_snippets_cover_video_last_one_padded(feature_clips: dict[str, Path]):
    snippets = list(iter_snippets(feature_clips["pal"]))
    assert [s.index for s in snippets] == [0, 1, 2] and snippet_count(40) == 3
    assert [s.start_s for s in snippets] == pytest.approx([0.0, 0.64, 1.28])
    assert [s.n_valid for s in snippets] == [16, 16, 8]
    assert all(len(s.frames) == 16 for s in snippets)
    last = snippets[-1]
    assert all(f is last.frames[7] for f in last.frames[8:])  # padded with the last real frame
    first_codes = [read_barcode(to_array(f, 160, 120)) for f in snippets[1].frames]
    assert first_codes == list(range(16, 32))


def test_snippets_partial_dropped_on_request(feature_clips: dict[str, Path]):
    assert [s.n_valid for s in iter_snippets(feature_clips["pal"], keep_partial=False)] == [16, 16]


def test_snippets_cancel(feature_clips: dict[str, Path]):
    with pytest.raises(ExtractionCancelled):
        for _ in iter_snippets(feature_clips["pal"], should_stop=lambda: True):
            pass
