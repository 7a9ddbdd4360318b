"""bench.lab.annotator: A1's error rate, the simulated annotator (passes, errors at A1's rate
in expectation, targets, shortfalls), the nested baselines and where clicks lie, by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.lab import annotator
from bench.lab.settings import DEFAULT_CLICKS, DEFAULT_GT
from model.data import VideoItem
from tests.model.tiny_thumos import write_inputs

# 8 background clicks on the training videos; the one at 15 s lies inside Jump (10-20 s)
A1 = [
    ("video_validation_0000001", 2.0),
    ("video_validation_0000001", 15.0),
    ("video_validation_0000001", 30.0),
    ("video_validation_0000001", 50.0),
    ("video_validation_0000002", 2.0),
    ("video_validation_0000002", 30.0),
    ("video_validation_0000003", 12.0),
    ("video_validation_0000003", 35.0),
]


def _item(name: str, duration: float, segments, clicks=(), T: int = 20) -> VideoItem:
    return VideoItem(
        name=name,
        features=np.zeros((T, 0), dtype=np.float32),
        labels=np.ones(2, dtype=np.float32),
        fps=30.0,
        duration=duration,
        frame_num=int(duration * 30),
        bg_clicks=np.asarray(clicks, dtype=np.int64),
        gt_segments=list(segments),
    )


def test_a1_error_rate_counts_background_clicks_inside_gt_on_training_videos(
    tmp_path: Path,
) -> None:
    on_test = [("video_test_0000001", 35.0)]  # inside GT, but a test video: not counted
    gt, csv = write_inputs(tmp_path, [*A1, *on_test])
    share, inside, clicks = annotator.a1_error_rate(gt, csv)
    assert (inside, clicks) == (1, 8) and share == pytest.approx(1 / 8)


def test_the_real_a1_share_is_as_documented() -> None:
    gt, csv = DEFAULT_GT, DEFAULT_CLICKS
    if not (gt.exists() and csv.exists()):
        pytest.skip("THUMOS14 files not present")
    share, inside, clicks = annotator.a1_error_rate(gt, csv)
    assert (inside, clicks) == (175, 2264) and share == pytest.approx(0.0773, abs=1e-4)


def test_perfect_annotator_clicks_background_passes_actions_and_stops_at_target() -> None:
    # 20 snippets over 20 s: snippet k is centred at k + 0.5 s; GT action 5-10 s
    items = [_item("a", 20.0, [(5.0, 10.0, 0)]), _item("b", 20.0, [])]
    suggestions = {
        "a": [[7.5, 0.9, "low_confidence"], [12.5, 0.8, "low_confidence"], [1.5, 0.3, "x"]],
        "b": [[3.5, 0.9, "low_confidence"], [15.5, 0.5, "x"]],
    }
    start = annotator.RoundState({}, {}, {})
    st = annotator.simulate_round(
        items, suggestions, start, target=3, error_rate=0.0, seed=0, round_index=1
    )
    # rank 1 of both videos (7.5 s in "a" is inside the action: a pass), then rank 2 until 3 clicks
    assert st.clicks == {"a": [12], "b": [3, 15]}
    assert st.passed == {"a": [7.5]}
    assert st.total == 3 and st.stats["errors"] == 0 and st.stats["shortfall"] == 0
    assert st.stats["answered"] == 4 and st.stats["passes"] == 1
    # the next round starts from these clicks; not enough suggestions: a shortfall
    more = {"a": [[1.5, 0.3, "x"]], "b": []}
    st2 = annotator.simulate_round(
        items, more, st, target=10, error_rate=0.0, seed=0, round_index=2
    )
    assert st2.clicks == {"a": [1, 12], "b": [3, 15]} and st2.stats["shortfall"] == 6
    assert st.clicks == {"a": [12], "b": [3, 15]}  # the previous state is not modified


def test_annotator_errors_match_the_error_rate_in_expectation() -> None:
    # 40 videos, each: 3 background suggestions and 1 inside the action -> B/A = 3
    items = [_item(f"v{i:02d}", 20.0, [(5.0, 10.0, 0)]) for i in range(40)]
    sugg = {
        it.name: [[7.5, 0.9, "x"], [1.5, 0.8, "x"], [12.5, 0.7, "x"], [16.5, 0.6, "x"]]
        for it in items
    }
    start = annotator.RoundState({}, {}, {})
    shares = []
    for seed in range(20):
        st = annotator.simulate_round(items, sugg, start, 10**6, 0.2, seed, 1)
        # p = 0.2 / 0.8 * 3 = 0.75 of the action moments are clicked
        assert st.stats["p_error"] == pytest.approx(0.75)
        assert st.stats["new_clicks"] == 120 + st.stats["errors"]
        shares.append(st.stats["new_inside_share"])
    assert np.mean(shares) == pytest.approx(0.2, abs=0.02)
    # a target met early: p is matched on the suggestions answered, not the whole pool
    early = annotator.simulate_round(items, sugg, start, 50, 0.2, 0, 1)  # rank 1: all action
    s = early.stats
    assert s["clicks"] == 50 and s["answered"] < 160
    expected = annotator.error_probability(
        0.2, s["answered"] - s["answered_inside_gt"], s["answered_inside_gt"]
    )
    assert s["p_error"] == pytest.approx(expected, abs=1e-4)
    st = annotator.simulate_round(items, sugg, start, 10**6, 0.2, 3, 1)
    again = annotator.simulate_round(items, sugg, start, 10**6, 0.2, 3, 1)
    assert st.clicks == again.clicks  # seeded


def test_baselines_have_the_requested_counts_and_are_nested() -> None:
    items = [
        _item("a", 20.0, [(5.0, 10.0, 0)], clicks=[1, 2, 3, 15]),
        _item("b", 20.0, [(0.0, 19.0, 1)], clicks=[19]),
        _item("c", 20.0, [], clicks=[4, 6]),
    ]
    assert annotator.a1_clicks(items) == {"a": [1, 2, 3, 15], "b": [19], "c": [4, 6]}
    small, large = annotator.a1_subset(items, 3, 0), annotator.a1_subset(items, 5, 0)
    assert sum(map(len, small.values())) == 3 and sum(map(len, large.values())) == 5
    for name, ks in small.items():
        assert set(ks) <= set(large[name]) <= set(annotator.a1_clicks(items)[name])
    assert sum(map(len, annotator.a1_subset(items, 99, 0).values())) == 7  # capped at A1's

    counts = {"a": 3, "b": 5, "c": 2}
    rb = annotator.random_background(items, counts, 0)
    assert len(rb["a"]) == 3 and len(rb["c"]) == 2
    assert rb["b"] == [19]  # only snippet 19 (centre 19.5 s) is outside 0-19 s: capped
    assert not set(rb["a"]) & set(range(5, 10))  # centres 5.5 .. 9.5 are inside the action
    more = annotator.random_background(items, {"a": 6}, 0)
    assert set(rb["a"]) <= set(more["a"])
    assert annotator.random_background(items, counts, 1) != rb  # seeded by the seed


def test_click_places_by_distance_to_the_nearest_instance() -> None:
    """GT instances [10, 20] and [30, 31]; clicks at 10 (on the edge: inside), 25 (5 s from
    the first, 5 s from the second: farther), 9.2 (0.8 s before: ≤ 1 s), 29 (1 s before
    the second: ≤ 1 s), 33.5 (2.5 s after: 1–3 s), 40 (9 s: farther)."""
    segments = [(10.0, 20.0, 0), (30.0, 31.0, 1)]
    times = [10.0, 25.0, 9.2, 29.0, 33.5, 40.0]
    assert annotator.click_places(segments, times) == [1, 2, 1, 2]
    assert annotator.click_places(None, [1.0, 2.0]) == [0, 0, 0, 2]
    assert annotator.click_places(segments, []) == [0, 0, 0, 0]
