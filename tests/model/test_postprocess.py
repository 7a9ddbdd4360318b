"""Post-processing pieces with hand-computed values."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from model.config import PostConfig
from model.postprocess import (
    group_runs,
    interval_iou,
    localize,
    minmax_normalize,
    nms,
    resize_linear,
    score_runs,
)


def test_group_runs_of_thresholded_cas() -> None:
    mask = np.array([[0, 1, 1, 0, 1], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=bool)
    row, start, end = group_runs(mask)
    assert row.tolist() == [0, 0, 1]
    assert start.tolist() == [1, 4, 0]
    assert end.tolist() == [3, 5, 2]  # exclusive


def test_outer_inner_score_by_hand() -> None:
    values = np.array([[0.0, 0.2, 0.9, 0.7, 0.8, 0.4, 0.1, 0.0]])
    # run [2, 5): L = 3, ring 0.75 -> left [floor(1.25)=1, 2) = {0.2};
    # right [5, min(8, floor(4.75)=4)) is empty -> outer 0.2; inner = 0.8
    # run [1, 7): L = 6, ring 1.5 -> left [0, 1) = {0.0}; right [7, floor(7.5)=7) empty
    row = np.array([0, 0])
    start = np.array([2, 1])
    end = np.array([5, 7])
    got = score_runs(values, row, start, end, 0.25)
    assert got[0] == pytest.approx(0.8 - 0.2)
    assert got[1] == pytest.approx((0.2 + 0.9 + 0.7 + 0.8 + 0.4 + 0.1) / 6 - 0.0)
    # L = 8 at [2, 10) in 14 frames, ring 2 -> left {0, 1}, right [10, 11) = {10}
    v = np.arange(14, dtype=float)[None]
    got = score_runs(v, np.array([0]), np.array([2]), np.array([10]), 0.25)
    assert got[0] == pytest.approx(np.mean(np.arange(2, 10)) - (0 + 1 + 10) / 3)


def test_minmax_normalize_official_variant() -> None:
    cas = np.array([[-1.0, 1.0, 3.0], [2.0, 4.0, 6.0], [-3.0, -2.0, -1.0]])
    got = minmax_normalize(cas)
    # row 0: lo = relu(-1) = 0, hi = 3; row 1: (x - 2) / 4; row 2: hi = lo = 0 -> divisor 1
    np.testing.assert_allclose(got[0], [-1 / 3, 1 / 3, 1.0])
    np.testing.assert_allclose(got[1], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(got[2], [-3.0, -2.0, -1.0])


def test_resize_linear_half_pixel_by_hand_and_like_opencv() -> None:
    x = np.array([[0.0, 1.0, 4.0, 2.0]])
    # up x2.5 to 10: dst i samples (i + .5) * 0.4 - .5 -> [-.3,.1,.5,.9,1.3,1.7,2.1,2.5,2.9,3.3]
    want = [0.0, 0.1, 0.5, 0.9, 1.9, 3.1, 3.8, 3.0, 2.2, 2.0]
    np.testing.assert_allclose(resize_linear(x, 10)[0], want, atol=1e-12)
    cv2 = pytest.importorskip("cv2")
    y = np.random.default_rng(0).random((1, 37)).astype(np.float32)
    for n in (100, 37, 20):
        ref = cv2.resize(y, (n, 1), interpolation=cv2.INTER_LINEAR)[0]
        np.testing.assert_allclose(resize_linear(y.astype(np.float64), n)[0], ref, atol=1e-5)


def test_interval_iou_and_plus_one_quirk() -> None:
    segs = np.array([[1.0, 11.0], [20.0, 30.0], [0.0, 5.0]])
    np.testing.assert_allclose(interval_iou(np.array([0.0, 10.0]), segs), [9 / 11, 0.0, 0.5])
    # +1 on lengths in seconds: [0,1] vs [.5,1.5]: inter .5 + 1, union 2 + 2 - 1.5
    got = interval_iou(np.array([0.0, 1.0]), np.array([[0.5, 1.5]]), plus_one=True)
    assert got[0] == pytest.approx(1.5 / 2.5)


def test_nms_by_hand() -> None:
    segs = np.array([[0.0, 10.0], [1.0, 11.0], [20.0, 30.0], [0.0, 5.0]])
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    # [1,11] has IoU 9/11 with the best -> dropped; [0,5] has 0.5 < 0.55 -> kept
    assert nms(segs, scores, 0.55).tolist() == [0, 2, 3]
    assert nms(segs, scores, 0.45).tolist() == [0, 2]
    short = np.array([[0.0, 1.0], [0.5, 1.5]])  # IoU 1/3, with the +1 quirk 0.6
    assert nms(short, np.array([0.9, 0.8]), 0.55).tolist() == [0, 1]
    assert nms(short, np.array([0.9, 0.8]), 0.55, plus_one=True).tolist() == [0]
    assert nms(segs[[3, 0]], np.array([0.1, 0.5]), 0.55).tolist() == [1, 0]


def test_localize_cas_and_magnitude_proposals_by_hand() -> None:
    # one class, T = frame_num = 8, duration 8 s: frames are seconds
    cas = np.array([[0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]])
    cfg = PostConfig()
    # every CAS threshold gives run [2, 5): inner 1, left ring [1, 2) = 0, right ring empty
    # score = 1 - 0 + 0.2 * 0.5
    got = localize(cas, np.array([0.5]), None, 8, 8.0, cfg)
    assert got == [(2.0, 5.0, 0, pytest.approx(1.1))]
    # magnitudes give run [5, 7), scored on the CAS: inner 0, ring L=2 -> left [4, 5) = 1,
    # right [7, min(8, floor(6.5))) empty -> 0 - 1 + 0.1
    mags = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 2.0, 0.0])
    got = localize(cas, np.array([0.5]), mags, 8, 8.0, cfg)
    assert got == [(2.0, 5.0, 0, pytest.approx(1.1)), (5.0, 7.0, 0, pytest.approx(-0.9))]
    # below the class threshold: nothing
    assert localize(cas, np.array([0.2]), mags, 8, 8.0, cfg) == []


def test_localize_scores_cas_proposals_on_the_thresholded_copy() -> None:
    cas = np.array([[0.0, 0.1, 1.0, 1.0, 0.1, 0.0], [5.0, 5.0, 5.0, 5.0, 5.0, 5.0]])
    scores = np.array([0.6, 0.1])  # class 1 is not confident
    cfg = replace(PostConfig(), use_magnitudes=False)
    got = localize(cas, scores, None, 6, 12.0, cfg)  # 2 s per frame
    # th <= 0.1: run [1, 5), inner 0.55, no ring values -> 0.55 + 0.12
    # th >= 0.125: run [2, 4), ring [1, 2) holds 0.1 but counts as 0 (thresholded) -> 1 + 0.12
    # NMS: IoU([4, 8], [2, 10]) = 0.5 < 0.55 keeps both
    assert got == [
        (4.0, 8.0, 0, pytest.approx(1.12)),
        (2.0, 10.0, 0, pytest.approx(0.67)),
    ]


def test_localize_resizes_to_frames_and_maps_to_seconds() -> None:
    cas = np.array([[0.0, 1.0, 1.0, 0.0]])  # 4 snippets -> 8 frames, duration 4 s
    # resized: samples at -.25,.25,.75,1.25,1.75,2.25,2.75,3.25 -> [0,.25,.75,1,1,.75,.25,0]
    cfg = replace(PostConfig(), use_magnitudes=False, cas_thresholds=(0.5,))
    got = localize(cas, np.array([1.0]), None, 8, 4.0, cfg)
    # run [2, 6) frames -> [1 s, 3 s]; inner (.75+1+1+.75)/4; ring L=4 -> [1, 2) = 0 (.25 < .5)
    assert got == [(1.0, 3.0, 0, pytest.approx(0.875 + 0.2))]
