"""model.compare: nested click subsets, per-video mAP and paired differences (hand-checked)."""

from __future__ import annotations

import numpy as np
import pytest

from model.compare import click_count, nested_click_subsets, paired_differences, per_video_map
from model.data import VideoItem


def _item(name: str, clicks: list[int]) -> VideoItem:
    return VideoItem(
        name=name,
        features=np.zeros((20, 4), dtype=np.float32),
        labels=np.ones(2, dtype=np.float32),
        fps=25.0,
        duration=10.0,
        frame_num=250,
        bg_clicks=np.array(clicks, dtype=np.int64),
        action_clicks=np.array([[3, 1]], dtype=np.int64),
    )


def _pairs(items: list[VideoItem]) -> set[tuple[str, int]]:
    return {(it.name, int(s)) for it in items for s in it.bg_clicks}


def test_nested_subsets_are_nested_seeded_and_sized() -> None:
    items = [_item("a", [0, 5, 9, 12]), _item("b", [1, 2]), _item("c", []), _item("d", [7, 8])]
    subsets = nested_click_subsets(items, [0.25, 0.5, 1.0, 0.0], seed=3)
    sizes = {f: click_count(s) for f, s in subsets.items()}
    assert sizes == {0.25: 2, 0.5: 4, 1.0: 8, 0.0: 0}  # round(f · 8)
    small, half, full = (_pairs(subsets[f]) for f in (0.25, 0.5, 1.0))
    assert small < half < full == _pairs(items)  # nested
    for subset in subsets.values():  # only the clicks change, the order of videos stays
        assert [it.name for it in subset] == ["a", "b", "c", "d"]
        assert all(it.action_clicks.tolist() == [[3, 1]] for it in subset)
        assert all(list(it.bg_clicks) == sorted(it.bg_clicks) for it in subset)
    again = nested_click_subsets(items, [0.25, 0.5], seed=3)
    assert _pairs(again[0.25]) == small and _pairs(again[0.5]) == half
    other = [_pairs(nested_click_subsets(items, [0.5], seed=s)[0.5]) for s in range(6)]
    assert len({frozenset(o) for o in other}) > 1  # the seed matters
    assert items[0].bg_clicks.tolist() == [0, 5, 9, 12]  # the caller's items are untouched


def test_a_tiny_fraction_keeps_one_click_and_bad_fractions_are_refused() -> None:
    items = [_item("a", [4, 6, 8])]
    assert click_count(nested_click_subsets(items, [0.01], seed=0)[0.01]) == 1
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        nested_click_subsets(items, [1.5], seed=0)


def test_per_video_map_by_hand() -> None:
    gt = {
        "A": [(0.0, 10.0, "x")],
        "B": [(0.0, 10.0, "x"), (20.0, 30.0, "y")],
        "C": [],
    }
    preds = {
        "A": [(0.0, 10.0, "x", 0.9), (40.0, 50.0, "z", 0.99)],  # z: no GT in A, not counted
        "B": [(0.0, 10.0, "x", 0.9), (50.0, 60.0, "y", 0.8)],  # y misses
    }
    out = per_video_map(gt, preds)
    assert set(out) == {"A", "B"}  # C has no segments to measure
    assert out["A"]["mAP@0.5"] == 1.0 and out["A"]["avg_0.1_0.7"] == 1.0
    assert out["B"]["mAP@0.5"] == 0.5 and out["B"]["avg_0.1_0.7"] == 0.5
    # a half-overlapping prediction: tIoU 1/3 -> a hit up to 0.3, a miss from 0.4 on
    half = per_video_map({"D": [(0.0, 10.0, "x")]}, {"D": [(5.0, 15.0, "x", 0.5)]})["D"]
    assert half["mAP"]["0.3"] == 1.0 and half["mAP"]["0.4"] == 0.0
    assert half["avg_0.1_0.7"] == pytest.approx(3 / 7)
    assert per_video_map({"E": [(0.0, 1.0, "x")]}, {})["E"]["mAP@0.5"] == 0.0


def test_paired_differences_by_hand() -> None:
    a = {"v1": 0.2, "v2": 0.5, "v3": 0.4, "only_a": 1.0}
    b = {"v1": 0.3, "v2": 0.5, "v3": 0.1}
    out = paired_differences(a, b, seed=0)
    assert out["videos"] == 3
    assert out["diff"] == pytest.approx({"v1": 0.1, "v2": 0.0, "v3": -0.3})
    assert out["mean"] == pytest.approx(-0.2 / 3)
    assert (out["better"], out["worse"], out["tied"]) == (1, 1, 1)
    lo, hi = out["ci95"]
    assert -0.3 - 1e-9 <= lo < out["mean"] < hi <= 0.1 + 1e-9
    assert paired_differences(a, b, seed=0) == out  # seeded
    one = paired_differences({"v": 0.1}, {"v": 0.4})
    assert one["mean"] == pytest.approx(0.3) and one["ci95"] is None and one["better"] == 1
    assert paired_differences({}, {})["mean"] is None
