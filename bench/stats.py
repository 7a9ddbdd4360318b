"""Statistics of benchmark comparisons: paired bootstrap over videos, power of a paired design.

Pure numpy, tested by hand (tests/bench/test_stats.py).

The bootstrap resamples *videos* (the unit the held-out and test sets are made of) and
recomputes the ActivityNet mAP of two arms on the same resampled set, so the interval of the
difference accounts for which videos happened to be evaluated. Matching is done once: a
prediction can only match GT of its own video, and the greedy order inside a video is the
global score order restricted to it, so every prediction's true/false positive flag is fixed;
a video drawn k times counts its predictions and its GT instances k times
(:func:`weighted_map`). With all weights 1 this is :func:`model.evaluate.compute_map` exactly.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from model.evaluate import (
    GroundTruth,
    Predictions,
    average_precision_interpolated,
    gt_by_class,
    match_detections,
)

TIOUS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


@dataclass(frozen=True)
class ClassMatches:
    """One class's ranked predictions with their fixed TP flags."""

    pred_video: np.ndarray  # (P,) video index of each ranked prediction
    tp: np.ndarray  # (K, P) bool, in rank order
    gt_video: np.ndarray  # (G,) video index of each GT instance


@dataclass(frozen=True)
class Matches:
    videos: list[str]
    classes: list[Hashable]
    per_class: list[ClassMatches]
    tious: tuple[float, ...]


def match_all(gt: GroundTruth, preds: Predictions, tious: Sequence[float] = TIOUS) -> Matches:
    """Match every class once (the official greedy matching and tie order)."""
    videos = sorted(gt)
    index = {v: i for i, v in enumerate(videos)}
    classes, gt_rows = gt_by_class({v: gt[v] for v in videos})
    pred_rows: dict[Hashable, list[tuple[str, float, float, float]]] = {c: [] for c in classes}
    for video, scored in preds.items():
        if video not in index:
            continue
        for start, end, label, score in scored:
            if label in pred_rows:
                pred_rows[label].append((video, float(start), float(end), float(score)))
    per_class = []
    for label in classes:
        g, p = gt_rows[label], pred_rows[label]
        gt_videos = np.array([r[0] for r in g], dtype=object)
        pred_videos = np.array([r[0] for r in p], dtype=object)
        order, tp, _ = match_detections(
            gt_videos,
            np.array([r[1:] for r in g], dtype=np.float64).reshape(-1, 2),
            pred_videos,
            np.array([r[1:3] for r in p], dtype=np.float64).reshape(-1, 2),
            np.array([r[3] for r in p], dtype=np.float64),
            tious,
        )
        per_class.append(
            ClassMatches(
                pred_video=np.array([index[v] for v in pred_videos[order]], dtype=np.int64),
                tp=tp,
                gt_video=np.array([index[v] for v in gt_videos], dtype=np.int64),
            )
        )
    return Matches(videos, classes, per_class, tuple(float(t) for t in tious))


def weighted_map(matches: Matches, weights: np.ndarray) -> np.ndarray:
    """mAP per tIoU when video i counts ``weights[i]`` times.  # (V,) -> (K,)

    Classes whose GT has weight 0 in total are left out of the mean (as compute_map leaves out
    classes without GT)."""
    aps = []
    for cm in matches.per_class:
        positives = float(weights[cm.gt_video].sum())
        if positives == 0:
            continue
        w = weights[cm.pred_video].astype(np.float64)  # (P,)
        keep = w > 0
        if not keep.any():
            aps.append(np.zeros(len(matches.tious)))
            continue
        tp = cm.tp[:, keep].astype(np.float64) * w[keep]  # (K, P')
        fp = (~cm.tp[:, keep]).astype(np.float64) * w[keep]
        tp_cum, fp_cum = np.cumsum(tp, axis=1), np.cumsum(fp, axis=1)
        recall, precision = tp_cum / positives, tp_cum / (tp_cum + fp_cum)
        aps.append(
            np.array(
                [
                    average_precision_interpolated(precision[k], recall[k])
                    for k in range(len(matches.tious))
                ]
            )
        )
    if not aps:
        return np.zeros(len(matches.tious))
    return np.mean(aps, axis=0)


def summary(per_tiou: np.ndarray, tious: Sequence[float] = TIOUS) -> dict[str, float]:
    """mAP@0.5 and the averages over 0.1:0.7 and 0.3:0.7 of a per-tIoU vector."""
    t = np.asarray(tious)
    return {
        "0.5": float(per_tiou[np.isclose(t, 0.5)][0]),
        "avg_0.1_0.7": float(per_tiou[(t > 0.1 - 1e-9) & (t < 0.7 + 1e-9)].mean()),
        "avg_0.3_0.7": float(per_tiou[(t > 0.3 - 1e-9) & (t < 0.7 + 1e-9)].mean()),
    }


def paired_bootstrap(
    gt: GroundTruth,
    preds_a: Predictions,
    preds_b: Predictions,
    draws: int = 1000,
    seed: int = 0,
    tious: Sequence[float] = TIOUS,
) -> dict[str, Any]:
    """mAP(a) − mAP(b) on ``gt``'s videos, with a 95 % percentile interval from ``draws``
    resamplings of the videos (the same draw for both arms).

    Returns per summary key ("0.5", "avg_0.1_0.7", "avg_0.3_0.7"): {"diff", "lo", "hi",
    "p_le_0"} (p_le_0: share of draws with a difference ≤ 0)."""
    ma, mb = match_all(gt, preds_a, tious), match_all(gt, preds_b, tious)
    n = len(ma.videos)
    ones = np.ones(n)
    full = {k: summary(weighted_map(ma, ones), tious)[k] - v for k, v in
            summary(weighted_map(mb, ones), tious).items()}  # fmt: skip
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {k: [] for k in full}
    for _ in range(draws):
        weights = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        sa = summary(weighted_map(ma, weights), tious)
        sb = summary(weighted_map(mb, weights), tious)
        for k in samples:
            samples[k].append(sa[k] - sb[k])
    out: dict[str, Any] = {"videos": n, "draws": draws}
    for k, diff in full.items():
        arr = np.asarray(samples[k])
        out[k] = {
            "diff": diff,
            "lo": float(np.percentile(arr, 2.5)),
            "hi": float(np.percentile(arr, 97.5)),
            "p_le_0": float(np.mean(arr <= 0)),
        }
    return out


def hierarchical_bootstrap(
    pairs: Sequence[tuple[Matches, Matches]],
    draws: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean over seeds of the paired difference mAP(a) − mAP(b), each seed's mAP computed by
    its own models on its own videos, with a 95 % interval from a two-level bootstrap: the
    seeds are drawn with replacement, then each drawn seed's videos (the same draw for a and
    b). Both sources of noise — which training run, which videos — are in the interval.

    pairs: per seed, (matches of a, matches of b) on the same videos (:func:`match_all`).
    Returns per summary key {"diff", "lo", "hi", "p_le_0", "per_seed"}."""
    tious = pairs[0][0].tious
    per_seed: dict[str, list[float]] = {}
    for ma, mb in pairs:
        ones = np.ones(len(ma.videos))
        sa, sb = summary(weighted_map(ma, ones), tious), summary(weighted_map(mb, ones), tious)
        for k in sa:
            per_seed.setdefault(k, []).append(sa[k] - sb[k])
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {k: [] for k in per_seed}
    for _ in range(draws):
        drawn = rng.integers(0, len(pairs), len(pairs))
        diffs: dict[str, list[float]] = {k: [] for k in per_seed}
        for i in drawn:
            ma, mb = pairs[int(i)]
            n = len(ma.videos)
            weights = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
            sa = summary(weighted_map(ma, weights), tious)
            sb = summary(weighted_map(mb, weights), tious)
            for k in diffs:
                diffs[k].append(sa[k] - sb[k])
        for k in samples:
            samples[k].append(float(np.mean(diffs[k])))
    out: dict[str, Any] = {"seeds": len(pairs), "draws": draws}
    for k, values in per_seed.items():
        arr = np.asarray(samples[k])
        out[k] = {
            "diff": float(np.mean(values)),
            "lo": float(np.percentile(arr, 2.5)),
            "hi": float(np.percentile(arr, 97.5)),
            "p_le_0": float(np.mean(arr <= 0)),
            "per_seed": [float(v) for v in values],
        }
    return out


# two-sided 95 % quantiles of Student's t, degrees of freedom 1..20 (standard tables)
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086)  # fmt: skip


def t_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, lo, hi): the 95 % t-interval of the mean of ``values`` (paired differences over
    seeds); beyond 20 degrees of freedom the normal quantile. Needs 2 values or more."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size < 2:
        raise ValueError("a t-interval needs at least 2 values")
    df = arr.size - 1
    q = T975[df - 1] if df <= len(T975) else NormalDist().inv_cdf(0.975)
    half = q * arr.std(ddof=1) / math.sqrt(arr.size)
    return float(arr.mean()), float(arr.mean() - half), float(arr.mean() + half)


def seeds_needed(sd_paired: float, delta: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Seeds a paired comparison needs to detect a true difference ``delta`` with ``power``
    at two-sided level ``alpha`` when the per-seed paired difference has standard deviation
    ``sd_paired`` (normal approximation: n = ((z_{1−α/2} + z_power) · sd / delta)², rounded up)."""
    if delta <= 0 or sd_paired < 0:
        raise ValueError("delta must be > 0 and sd_paired >= 0")
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return max(2, math.ceil((z * sd_paired / delta) ** 2))


def detectable_difference(
    sd_paired: float, seeds: int, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest true difference a paired design with ``seeds`` seeds detects with
    ``power`` at level ``alpha`` (the inverse of :func:`seeds_needed`)."""
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return z * sd_paired / math.sqrt(seeds)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def prefixed(data: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Video names made unique across sims: ``{prefix}{name}`` (pooling folds of 5 seeds)."""
    return {f"{prefix}{k}": v for k, v in data.items()}
