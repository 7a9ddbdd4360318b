"""model.correction: the cost model of docs/research/correction.md, computed by hand."""

from __future__ import annotations

import itertools
import random

import pytest

from model.correction import (
    POLICIES,
    Cost,
    correction_cost,
    edge_tolerance,
    fixes,
    match_segments,
    min_cost_assignment,
    scratch_cost,
    shown_segments,
)

# A video with four actions (class 0, 0, 1, 1) and five shown predictions, tolerance 0.5 s.
GT = [(10.0, 20.0, 0), (40.0, 44.0, 0), (60.0, 70.0, 1), (100.0, 110.0, 1)]
SHOWN = [
    (11.0, 19.0, 0, 0.95),  # p0: A, both edges 1 s off (2 drags)
    (10.2, 19.8, 0, 0.90),  # p1: A within tolerance (0 drags): A's better match
    (38.0, 44.3, 1, 0.70),  # p2: B, start 2 s off, end within, wrong class (1 drag + 1 class)
    (80.0, 90.0, 0, 0.60),  # p3: no action there
    (100.4, 109.9, 1, 0.95),  # p4: D exactly (within tolerance)
]


def test_tolerance_is_half_a_second_or_one_snippet() -> None:
    assert edge_tolerance(180.0, 375) == 0.5  # 0.48 s snippets
    assert edge_tolerance(1800.0, 375) == pytest.approx(4.8)
    assert edge_tolerance(30.0, 0) == 0.5
    assert edge_tolerance(180.0, 375, min_s=0.2) == pytest.approx(0.48)


def test_fixes_count_edges_beyond_the_tolerance_and_a_wrong_class() -> None:
    assert fixes((10.3, 20.0, 1, 0.9), (10.0, 20.0, 1), 0.5) == (0, 0)
    assert fixes((8.0, 20.6, 2, 0.9), (10.0, 20.0, 1), 0.5) == (2, 1)
    assert fixes((10.0, 20.5, 1, 0.9), (10.0, 20.0, 1), 0.5) == (0, 0)  # exactly at it
    assert fixes((20.0, 25.0, 1, 0.9), (10.0, 20.0, 1), 0.5) is None  # touching only
    assert fixes((0.0, 100.0, 1, 0.9), (10.0, 20.0, 1), 0.5) == (2, 0)


def test_review_policy_by_hand() -> None:
    # p1→A (accept), p2→B (accept + 1 drag + 1 class), p4→D (accept); p0 and p3 deleted;
    # C drawn: 3 + 2 + 1 + 1 + 3 = 10 operations against 4 × 3 = 12 from scratch.
    assert match_segments(GT, SHOWN, 0.5) == [(1, 0), (2, 1), (4, 3)]
    cost = correction_cost(GT, SHOWN, 0.5)
    assert cost == Cost(
        accepts=3, deletes=2, drags=1, class_changes=1, new_segments=1, bulk_accepts=0, total=10
    )
    assert scratch_cost(GT) == Cost(new_segments=4, total=12)


def test_bulk_policy_by_hand() -> None:
    # one Shift+P per shown class (0 and 1), the same pairs, p0 and p3 deleted, C drawn:
    # 2 + 2 + 1 drag + 1 class + 3 = 9.
    cost = correction_cost(GT, SHOWN, 0.5, POLICIES["bulk"])
    assert (cost.bulk_accepts, cost.accepts, cost.deletes, cost.new_segments) == (2, 3, 2, 1)
    assert cost.total == 9


def test_pick_policy_by_hand() -> None:
    # accepting p2 (1 + 1 drag + 1 class = 3) saves nothing against drawing B (3): not used;
    # p1 and p4 accepted (2), wrong ones left alone (0), B and C drawn (6): 8.
    assert match_segments(GT, SHOWN, 0.5, POLICIES["pick"]) == [(1, 0), (4, 3)]
    cost = correction_cost(GT, SHOWN, 0.5, POLICIES["pick"])
    assert (cost.accepts, cost.deletes, cost.new_segments, cost.total) == (2, 3, 2, 8)


def test_the_assignment_is_the_cheapest_not_the_greedy_one() -> None:
    # q0 spans both actions (1 drag to either), q1 fits g0: q1→g0 and q0→g1 cost 2 + 1 = 3;
    # taking q0 for g0 first would cost 2 (q0) + 1 (delete q1) + 3 (draw g1) = 6.
    gt = [(0.0, 10.0, 0), (10.0, 20.0, 0)]
    shown = [(0.0, 20.0, 0, 0.9), (0.2, 9.8, 0, 0.8)]
    assert match_segments(gt, shown, 0.5) == [(0, 1), (1, 0)]
    assert correction_cost(gt, shown, 0.5).total == 3


def test_a_wide_tolerance_spares_the_drags() -> None:
    cost = correction_cost(GT, SHOWN, 2.5)  # e.g. a long video's snippet
    # p0 and p1 both fit A now; p2 fits B with its class changed: 3 accepts + 1 class + 2
    # deletes + 3 (C) = 9
    assert (cost.drags, cost.class_changes, cost.total) == (0, 1, 9)


def test_no_shown_segment_is_drawing_from_scratch() -> None:
    assert shown_segments(SHOWN, None) == []
    assert correction_cost(GT, [], 0.5) == Cost(new_segments=4, total=12)
    assert [s[3] for s in shown_segments(SHOWN, 0.9)] == [0.95, 0.90, 0.95]
    assert correction_cost([], SHOWN, 0.5).total == 5  # five deletes
    assert Cost(1, 2, 3, 4, 5, 6, 7) + Cost(1, 1, 1, 1, 1, 1, 1) == Cost(2, 3, 4, 5, 6, 7, 8)


def test_min_cost_assignment_equals_brute_force() -> None:
    rng = random.Random(7)
    for _ in range(60):
        n, m = rng.randint(1, 5), rng.randint(1, 5)
        cost = [[rng.choice([0, -1, -2, -3, 5]) + rng.random() for _ in range(m)] for _ in range(n)]
        pairs = min_cost_assignment(cost)
        assert len(pairs) == min(n, m)
        assert len({r for r, _ in pairs}) == len({c for _, c in pairs}) == min(n, m)
        if n <= m:
            best = min(
                sum(cost[i][p[i]] for i in range(n)) for p in itertools.permutations(range(m), n)
            )
        else:
            best = min(
                sum(cost[p[j]][j] for j in range(m)) for p in itertools.permutations(range(n), m)
            )
        assert sum(cost[r][c] for r, c in pairs) == pytest.approx(best)
    assert min_cost_assignment([]) == []
