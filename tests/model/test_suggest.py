"""model/suggest.py: suggestion signals, ranking and click QA, on hand-computed cases.

Every case uses T = 10 snippets over 10 s, so snippet k is centred at k + 0.5 s.
"""

from __future__ import annotations

import numpy as np
import pytest

from model.suggest import (
    BRANCH_DISAGREEMENT,
    INSIDE_GROUND_TRUTH,
    INSIDE_PREDICTION,
    LOW_CONFIDENCE,
    SEGMENT_BORDER,
    UNLABELLED_ACTIVATION,
    ClickFlag,
    SuggestConfig,
    Suggestion,
    activation_at,
    curve_points,
    edge_distance,
    flag_click,
    near_any,
    pick_peaks,
    rank_suggestions,
    signal_curves,
    snippet_times,
)

# class 0 rises inside the predicted segment [2, 5] s; class 1 fires at 8.5 s
CAS = np.zeros((2, 10))
CAS[0, 2:6] = [0.5, 0.9, 1.0, 0.2]
CAS[1, 8] = 0.6
SCORES = np.array([0.5, 0.125])
SEGMENTS = [(2.0, 5.0, 0, 0.8)]
CFG = SuggestConfig(max_suggestions=5, min_spacing_s=1.5, click_radius_s=1.0, min_score=0.1)


def test_snippet_times() -> None:
    assert snippet_times(4, 2.0).tolist() == [0.25, 0.75, 1.25, 1.75]


def test_signal_curves_by_hand() -> None:
    curves = signal_curves(CAS, SCORES, SEGMENTS, 10.0, labels={0}, config=CFG)
    low, low_cls = curves[LOW_CONFIDENCE]
    # inside [2, 5]: snippets 2, 3, 4 (centres 2.5, 3.5, 4.5); 4·f·(1−f) = 1, 0.36, 0
    assert low.round(6).tolist() == [0, 0, 1.0, 0.36, 0, 0, 0, 0, 0, 0]
    assert low_cls.tolist() == [-1, -1, 0, 0, -1, -1, -1, -1, -1, -1]
    border, border_cls = curves[SEGMENT_BORDER]
    # bands [1, 2) → snippet 1 (f = 0) and (5, 6] → snippet 5: 0.8 · 0.2 = 0.16
    assert border.round(6).tolist() == [0, 0, 0, 0, 0, 0.16, 0, 0, 0, 0]
    assert border_cls[5] == 0
    un, un_cls = curves[UNLABELLED_ACTIVATION]
    # class 1 is not labelled: 0.6 · clip(0.125 / 0.25) = 0.3 at snippet 8
    assert un.round(6).tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 0.3, 0]
    assert un_cls[8] == 1
    assert BRANCH_DISAGREEMENT not in curves  # no branch beliefs given


def test_signals_need_their_inputs() -> None:
    curves = signal_curves(CAS, SCORES, SEGMENTS, 10.0, labels=None)
    assert UNLABELLED_ACTIVATION not in curves  # nobody labelled the video
    curves = signal_curves(CAS, SCORES, SEGMENTS, 10.0, labels={0, 1})
    assert not curves[UNLABELLED_ACTIVATION][0].any()  # every class is labelled
    a = np.zeros(10)
    p = np.zeros(10)
    a[7], p[7] = 0.9, 0.2
    d, _ = signal_curves(CAS, SCORES, [], 10.0, fg_filter=a, fg_base=p)[BRANCH_DISAGREEMENT]
    assert d.round(6).tolist() == [0, 0, 0, 0, 0, 0, 0, 0.7, 0, 0]
    with pytest.raises(ValueError):
        signal_curves(CAS, SCORES, [], 10.0, fg_filter=a[:5], fg_base=p[:5])


def test_border_band_skips_the_class_own_segments() -> None:
    cas = np.full((1, 10), 0.5)
    # a 1 s gap between two class-0 segments: snippet 3 (3.5 s) is in the band after the
    # first ((3, 4]) and before the second ([3, 4)): max(1 · 0.5, 0.5 · 0.5)
    segs = [(0.0, 3.0, 0, 1.0), (4.0, 10.0, 0, 0.5)]
    border, _ = signal_curves(cas, np.array([0.9]), segs, 10.0)[SEGMENT_BORDER]
    assert border.round(6).tolist() == [0, 0, 0, 0.5, 0, 0, 0, 0, 0, 0]
    # a 0.2 s gap: 3.5 s is inside the second segment and 2.5 s inside the first, so no band
    segs = [(0.0, 3.0, 0, 1.0), (3.2, 10.0, 0, 0.5)]
    border, _ = signal_curves(cas, np.array([0.9]), segs, 10.0)[SEGMENT_BORDER]
    assert not border.any()


def test_rank_suggestions_by_hand() -> None:
    got = rank_suggestions(CAS, SCORES, SEGMENTS, 10.0, labels={0}, config=CFG)
    # 1.0 @ 2.5 (low confidence); 0.36 @ 3.5 is 1 s away (< 1.5): skipped; 0.3 @ 8.5; 0.16 @ 5.5
    assert got == [
        Suggestion(2.5, 1.0, LOW_CONFIDENCE, 0),
        Suggestion(8.5, pytest.approx(0.3), UNLABELLED_ACTIVATION, 1),
        Suggestion(5.5, pytest.approx(0.16), SEGMENT_BORDER, 0),
    ]


def test_rank_suggestions_avoids_existing_clicks_and_low_scores() -> None:
    # a click at 2.9 s blocks 2.5 and 3.5 (closer than 1 s); 5.5 (2.6 s away) stays
    got = rank_suggestions(CAS, SCORES, SEGMENTS, 10.0, click_times_s=[2.9], config=CFG)
    assert [(s.t_s, s.reason) for s in got] == [(5.5, SEGMENT_BORDER)]
    cfg = SuggestConfig(min_spacing_s=1.5, click_radius_s=1.0, min_score=0.2)
    got = rank_suggestions(CAS, SCORES, SEGMENTS, 10.0, click_times_s=[2.9], config=cfg)
    assert got == []  # 0.16 < 0.2


def test_rank_suggestions_weights_count_and_branch_signal() -> None:
    a = np.zeros(10)
    p = np.zeros(10)
    a[7], p[7] = 0.9, 0.2
    cfg = SuggestConfig(
        max_suggestions=2,
        min_spacing_s=1.5,
        min_score=0.1,
        weights={LOW_CONFIDENCE: 0.5, BRANCH_DISAGREEMENT: 1.0, SEGMENT_BORDER: 1.0},
    )
    got = rank_suggestions(CAS, SCORES, SEGMENTS, 10.0, fg_filter=a, fg_base=p, config=cfg)
    # 0.7 @ 7.5 (disagreement, no class), then 0.5 · 1.0 @ 2.5; the count stops there
    assert got == [
        Suggestion(7.5, pytest.approx(0.7), BRANCH_DISAGREEMENT, None),
        Suggestion(2.5, 0.5, LOW_CONFIDENCE, 0),
    ]


def test_rank_suggestions_degenerate_inputs() -> None:
    assert rank_suggestions(np.zeros((2, 0)), SCORES, [], 10.0) == []
    assert rank_suggestions(CAS, SCORES, SEGMENTS, 0.0) == []
    assert rank_suggestions(np.zeros((2, 10)), SCORES, [], 10.0) == []  # nothing to ask


def test_pick_peaks_ties_go_to_the_earlier_time() -> None:
    t = np.array([0.0, 1.0, 2.0, 3.0])
    s = np.array([0.5, 0.9, 0.9, 0.1])
    assert pick_peaks(t, s, count=3, min_spacing_s=1.5, min_score=0.0) == [1, 3]
    assert pick_peaks(t, s, count=3, min_spacing_s=0.5, min_score=0.4) == [1, 2, 0]
    blocked = np.array([False, True, False, False])
    assert pick_peaks(t, s, count=1, min_spacing_s=0.5, min_score=0, blocked=blocked) == [2]


def test_near_any_is_strict() -> None:
    assert near_any(np.array([1.0, 2.0, 5.0]), [2.5], 1.0).tolist() == [False, True, False]
    assert near_any(np.array([1.5]), [2.5], 1.0).tolist() == [False]  # exactly 1 s: not near
    assert near_any(np.array([1.0]), [], 1.0).tolist() == [False]


def test_edge_distance_by_hand() -> None:
    assert edge_distance(1.5, 1.0, 2.5) == (0.5, "start")
    assert edge_distance(2.25, 1.0, 2.5) == (0.25, "end")
    assert edge_distance(1.75, 1.0, 2.5) == (0.75, "start")  # the middle: a tie goes to the start
    assert edge_distance(1.0, 1.0, 2.5) == (0.0, "start")  # on the edge
    assert edge_distance(0.5, 1.0, 2.5) == (-0.5, "start")  # outside, before
    assert edge_distance(3.0, 1.0, 2.5) == (-0.5, "end")  # outside, after


def test_flag_click_by_hand() -> None:
    segs = [(1.0, 3.0, 0, 0.7), (2.0, 4.0, 1, 0.3)]
    gt = [(2.5, 5.0, 0)]
    flag = lambda t, m=0.2: flag_click(t, segs, gt, min_score=0.5, margin_s=m)  # noqa: E731
    # 2.6: inside [1.2, 2.8] of the confident class-0 segment; the 0.3 one is not confident;
    # GT shrinks to [2.7, 4.8]: 2.6 is outside
    assert flag(2.6) == [ClickFlag(INSIDE_PREDICTION, 0, 1.0, 3.0, 0.7)]
    assert flag(2.9) == [ClickFlag(INSIDE_GROUND_TRUTH, 0, 2.5, 5.0, None)]
    assert flag(1.1) == []  # within the margin of the segment's start
    assert flag(3.5) == [ClickFlag(INSIDE_GROUND_TRUTH, 0, 2.5, 5.0, None)]
    # without a margin the ends are inside (closed interval), both reasons together
    assert flag(3.0, 0.0) == [
        ClickFlag(INSIDE_PREDICTION, 0, 1.0, 3.0, 0.7),
        ClickFlag(INSIDE_GROUND_TRUTH, 0, 2.5, 5.0, None),
    ]
    assert flag_click(3.5, segs, min_score=0.3) == [ClickFlag(INSIDE_PREDICTION, 1, 2.0, 4.0, 0.3)]


def test_curve_points_by_hand() -> None:
    cas = np.array([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]])  # 6 snippets over 12 s
    times, curve = curve_points(cas, 12.0)  # fewer snippets than points: unchanged
    assert times == [1.0, 3.0, 5.0, 7.0, 9.0, 11.0]
    assert curve.tolist() == cas.tolist()
    # 3 points: bins [0, 2), [2, 4), [4, 6) averaged, centred at 2, 6, 10 s
    times, curve = curve_points(cas, 12.0, points=3)
    assert times == [2.0, 6.0, 10.0]
    assert curve.tolist() == [[0.5, 2.5, 4.5]]
    # 4 points over 6 snippets: edges 0, 1.5→2, 3, 4.5→4 (numpy rounds half to even), 6
    _, curve = curve_points(cas, 12.0, points=4)
    assert curve.tolist() == [[0.5, 2.0, 3.0, 4.5]]


def test_activation_at_by_hand() -> None:
    times, values = [1.0, 3.0, 5.0], [0.0, 1.0, -1.0]
    assert activation_at(2.0, times, values) == 0.5  # halfway between 1 s and 3 s
    assert activation_at(4.5, times, values) == -0.5  # a quarter of the way back from 5 s
    assert activation_at(0.0, times, values) == 0.0  # before the first point: its value
    assert activation_at(9.0, times, values) == -1.0  # after the last
    assert np.isnan(activation_at(1.0, [], []))


def test_flag_click_with_min_activation_by_hand() -> None:
    """The demo's case: one confident segment spans two actions and the dip between them."""
    segs = [(1.0, 12.0, 0, 0.6), (2.0, 5.0, 1, 0.9)]
    # class 0 at 1, 3, 5, 7, 9, 11 s: high in the actions, −0.8 in the dip at 7 s
    act = {0: ([1.0, 3.0, 5.0, 7.0, 9.0, 11.0], [0.1, 0.9, 0.4, -0.8, 0.8, 0.2])}
    flag = lambda t, tau: flag_click(  # noqa: E731
        t, segs, min_score=0.5, margin_s=0.2, min_activation=tau, activations=act
    )
    inside = ClickFlag(INSIDE_PREDICTION, 0, 1.0, 12.0, 0.6)
    assert flag(7.0, None) == [inside]  # today's rule: inside a confident segment
    assert flag(7.0, 0.0) == []  # the model calls 7 s background (−0.8)
    assert flag(6.0, 0.0) == []  # halfway 5 → 7 s: (0.4 − 0.8) / 2 = −0.2
    assert flag(5.5, 0.0) == [inside]  # a quarter of the way: 0.4 − 1.2 / 4 = 0.1
    assert flag(5.5, 0.25) == []
    assert flag(3.0, 0.25) == [inside, ClickFlag(INSIDE_PREDICTION, 1, 2.0, 5.0, 0.9)]
    # at 4.8 s class 0 reads 0.9 − 0.5 · 0.9 = 0.45 < 0.5; class 1 has no curve, so it is
    # not filtered (a version stored before curves existed)
    assert flag(4.8, 0.5) == [ClickFlag(INSIDE_PREDICTION, 1, 2.0, 5.0, 0.9)]


def test_coverage_rule_by_hand() -> None:
    """One class acting at 5-7 s of a 10 s video, a background click at 1 s: background
    belief 1 except snippets 5, 6 (0); spacing 10 / (1 click + 2 suggestions + 1) = 2.5 s."""
    from model.suggest import COVERAGE, background_belief, spread_factor

    cas = np.zeros((1, 10))
    cas[0, 5:7] = 1.0
    assert background_belief(cas, np.array([0.9]), {0}, 0.25).tolist() == [1] * 5 + [0, 0] + [1] * 3
    assert background_belief(cas, np.array([0.1]), None, 0.25).tolist() == [1.0] * 10  # no class
    t = np.arange(10) + 0.5
    assert spread_factor(t, [1.0], 2.5)[:5] == pytest.approx([0.2, 0.2, 0.6, 1.0, 1.0])
    cfg = SuggestConfig(
        max_suggestions=2, min_score=0.1, click_radius_s=1.0, weights={COVERAGE: 1.0}
    )
    got = rank_suggestions(cas, np.array([0.9]), [], 10.0, click_times_s=[1.0], labels={0},
                           config=cfg)  # fmt: skip
    # 3.5 s is the first moment a full spacing from the click; then 7.5 s, the first a full
    # spacing from the click and from 3.5 s that the model calls background (5.5, 6.5: action)
    assert got == [Suggestion(3.5, 1.0, COVERAGE, None), Suggestion(7.5, 1.0, COVERAGE, None)]
    # mixed with other signals, coverage is one more curve (clicks only, no picks)
    mixed = SuggestConfig(max_suggestions=2, min_score=0.1, weights={COVERAGE: 0.5})
    curves_only = rank_suggestions(cas, np.array([0.9]), [], 10.0, labels={0}, config=mixed)
    assert [s.reason for s in curves_only] == [COVERAGE, COVERAGE]
    # the product's default weights leave coverage out
    assert SuggestConfig().weights[COVERAGE] == 0.0
