"""bench.stats by hand: weighted mAP (a bootstrap draw), paired bootstrap, power."""

from __future__ import annotations

import numpy as np
import pytest

from bench.stats import (
    detectable_difference,
    hierarchical_bootstrap,
    match_all,
    paired_bootstrap,
    seeds_needed,
    summary,
    t_interval,
    weighted_map,
)
from model.evaluate import compute_map

TIOUS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
# video a: its action found; video b: a prediction 10 s away from its action
GT = {"a": [(0.0, 10.0, "jump")], "b": [(0.0, 10.0, "jump")]}
PREDS = {"a": [(0.0, 10.0, "jump", 0.9)], "b": [(20.0, 30.0, "jump", 0.8)]}


def test_weighted_map_by_hand() -> None:
    m = match_all(GT, PREDS, TIOUS)
    assert m.videos == ["a", "b"]
    # ranks: a's TP, b's FP: precision 1, 1/2 at recall 1/2, 1/2 -> AP 1/2 at every tIoU
    assert weighted_map(m, np.array([1.0, 1.0])) == pytest.approx([0.5] * 7)
    assert weighted_map(m, np.array([2.0, 0.0])) == pytest.approx([1.0] * 7)  # a twice
    assert weighted_map(m, np.array([0.0, 1.0])) == pytest.approx([0.0] * 7)  # b alone
    # a once, b twice: TP (w 1), FP (w 2): recall 1/3, precision 1 then 1/3 -> AP 1/3
    assert weighted_map(m, np.array([1.0, 2.0])) == pytest.approx([1 / 3] * 7)


def test_weighted_map_with_unit_weights_is_compute_map() -> None:
    rng = np.random.default_rng(0)
    gt, preds = {}, {}
    for v in range(12):
        gt[f"v{v}"] = [
            (s := float(rng.uniform(0, 80)), s + float(rng.uniform(2, 15)), f"c{rng.integers(3)}")
            for _ in range(int(rng.integers(1, 4)))
        ]
        preds[f"v{v}"] = [
            (s := float(rng.uniform(0, 80)), s + float(rng.uniform(2, 15)), f"c{rng.integers(3)}",
             float(rng.uniform()))
            for _ in range(int(rng.integers(0, 8)))
        ]  # fmt: skip
    want = compute_map(gt, preds, TIOUS)
    got = weighted_map(match_all(gt, preds, TIOUS), np.ones(12))
    assert got == pytest.approx([want["mAP"][f"{t:g}"] for t in TIOUS], abs=1e-12)
    assert summary(got)["avg_0.1_0.7"] == pytest.approx(want["avg_0.1_0.7"], abs=1e-12)


def test_paired_bootstrap_of_an_arm_with_itself_is_zero_and_a_better_arm_positive() -> None:
    same = paired_bootstrap(GT, PREDS, PREDS, draws=50)
    assert same["0.5"] == {"diff": 0.0, "lo": 0.0, "hi": 0.0, "p_le_0": 1.0}
    better = {"a": PREDS["a"], "b": [(0.0, 10.0, "jump", 0.8)]}  # b found too: AP 1
    result = paired_bootstrap(GT, better, PREDS, draws=200, seed=1)
    assert result["0.5"]["diff"] == pytest.approx(0.5)
    # every draw: better has AP 1; PREDS has 1 (no b drawn), 0 (no a drawn) or in between
    assert 0.0 <= result["0.5"]["lo"] <= 0.5 <= result["0.5"]["hi"] <= 1.0
    assert result["videos"] == 2 and result["draws"] == 200


def test_power_by_hand() -> None:
    z = 1.959964 + 0.841621  # z_{0.975} + z_{0.8}
    assert seeds_needed(3.0, 2.0) == int(np.ceil((z * 3.0 / 2.0) ** 2))  # 17.66 -> 18
    assert seeds_needed(3.0, 2.0) == 18
    assert detectable_difference(3.0, 5) == pytest.approx(z * 3.0 / np.sqrt(5), rel=1e-5)
    with pytest.raises(ValueError):
        seeds_needed(1.0, 0.0)


def test_hierarchical_bootstrap_means_the_per_seed_differences() -> None:
    better = {"a": PREDS["a"], "b": [(0.0, 10.0, "jump", 0.8)]}  # AP 1 vs 1/2: +0.5
    worse = {"a": [(20.0, 30.0, "jump", 0.9)], "b": [(20.0, 30.0, "jump", 0.8)]}  # AP 0
    seed_1 = (match_all(GT, better, TIOUS), match_all(GT, PREDS, TIOUS))  # +0.5
    seed_2 = (match_all(GT, PREDS, TIOUS), match_all(GT, worse, TIOUS))  # 1/2 - 0 = +0.5
    seed_3 = (match_all(GT, PREDS, TIOUS), match_all(GT, PREDS, TIOUS))  # 0
    result = hierarchical_bootstrap([seed_1, seed_2, seed_3], draws=200, seed=3)
    assert result["0.5"]["per_seed"] == pytest.approx([0.5, 0.5, 0.0])
    assert result["0.5"]["diff"] == pytest.approx(1 / 3)
    assert 0.0 <= result["0.5"]["lo"] < 1 / 3 < result["0.5"]["hi"] <= 1.0
    same = hierarchical_bootstrap([seed_3, seed_3], draws=20)
    assert (same["0.5"]["lo"], same["0.5"]["hi"]) == (0.0, 0.0)


def test_t_interval_by_hand() -> None:
    # values 1, 2, 3: mean 2, sd 1, half width 4.303 / sqrt(3) = 2.4843
    mean, lo, hi = t_interval([1.0, 2.0, 3.0])
    assert (mean, lo, hi) == pytest.approx((2.0, 2.0 - 2.48434, 2.0 + 2.48434), abs=1e-4)
    # +4.0, +1.2, +2.3, +1.2, -3.8: mean 0.98, sd 2.90723, half width 2.776 · sd / sqrt(5)
    mean, lo, hi = t_interval([4.0, 1.2, 2.3, 1.2, -3.8])
    assert mean == pytest.approx(0.98)
    assert hi - mean == pytest.approx(3.60923, abs=1e-4) and mean - lo == pytest.approx(3.60923)
    with pytest.raises(ValueError):
        t_interval([1.0])
