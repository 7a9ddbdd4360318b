"""Comparing trainings on one set of videos: nested click subsets, per-video mAP and paired
differences (pure numpy; the studio's "Does annotation pay here?" job and tests use them).

- :func:`nested_click_subsets`: the background clicks of a training set pooled (one per
  clicked snippet, in video order then snippet order), shuffled once by a seeded permutation;
  the subset of fraction ``f`` keeps the first ``round(f · N)`` clicks of that order (at least
  one when ``f > 0``). Every smaller subset is therefore inside every larger one (nested), and
  the same seed gives the same subsets.
- :func:`per_video_map`: a video's mAP is the ActivityNet mAP (``model.evaluate.compute_map``)
  of its own ground truth and its own predictions: the mean over the classes in its ground
  truth of their AP on that video alone. Predicted segments of classes absent from the video's
  ground truth do not count (as in the pooled mAP, where they count against their own class).
- :func:`paired_differences`: per video ``b − a``, their mean, how many videos are better,
  worse or tied, and a seeded paired bootstrap 95 % interval of the mean (videos resampled
  with replacement).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from model.data import VideoItem
from model.evaluate import GroundTruth, Predictions, compute_map

BOOTSTRAP_RESAMPLES = 2000
TIE = 1e-12  # |difference| at or below this is a tie


def _take(fraction: float, total: int) -> int:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"click fractions must be in [0, 1], got {fraction}")
    if fraction == 0.0 or total == 0:
        return 0
    return max(1, min(total, round(fraction * total)))


def nested_click_subsets(
    items: Sequence[VideoItem], fractions: Sequence[float], seed: int
) -> dict[float, list[VideoItem]]:
    """``{fraction: items with only that share of the background clicks}``, nested (module
    docstring). Everything but ``bg_clicks`` is the caller's item, unchanged."""
    pool = [
        (i, int(s)) for i, item in enumerate(items) for s in sorted(set(item.bg_clicks.tolist()))
    ]
    order = np.random.default_rng([int(seed), 0xC1C5]).permutation(len(pool))  # (N,)
    out: dict[float, list[VideoItem]] = {}
    for fraction in fractions:
        chosen = [pool[k] for k in order[: _take(float(fraction), len(pool))]]
        per_video: dict[int, list[int]] = {}
        for i, s in chosen:
            per_video.setdefault(i, []).append(s)
        out[float(fraction)] = [
            replace(item, bg_clicks=np.array(sorted(per_video.get(i, [])), dtype=np.int64))
            for i, item in enumerate(items)
        ]
    return out


def click_count(items: Sequence[VideoItem]) -> int:
    """Background clicks (clicked snippets) of a training set."""
    return int(sum(len(it.bg_clicks) for it in items))


def per_video_map(gt: GroundTruth, preds: Predictions) -> dict[str, dict[str, float]]:
    """``{video: {"mAP@0.5", "avg_0.1_0.7", "mAP": {tIoU: value}}}`` for every video of
    ``gt`` with at least one segment (module docstring)."""
    out: dict[str, dict[str, Any]] = {}
    for video, segments in gt.items():
        if not segments:
            continue
        result = compute_map({video: segments}, {video: list(preds.get(video, []))})
        out[video] = {
            "mAP@0.5": result["mAP"]["0.5"],
            "avg_0.1_0.7": result["avg_0.1_0.7"],
            "mAP": result["mAP"],
        }
    return out


def paired_differences(
    a: Mapping[str, float], b: Mapping[str, float], seed: int = 0
) -> dict[str, Any]:
    """Per video ``b − a`` over the videos both have, with their summary (module docstring).

    Returns {"videos": n, "diff": {video: b − a}, "mean", "better", "worse", "tied",
    "ci95": [lo, hi] (None with fewer than 2 videos)}."""
    videos = [v for v in a if v in b]
    diff = {v: float(b[v]) - float(a[v]) for v in videos}
    values = np.array(list(diff.values()), dtype=np.float64)  # (n,)
    if not len(values):
        return {"videos": 0, "diff": {}, "mean": None, "better": 0, "worse": 0, "tied": 0,
                "ci95": None}  # fmt: skip
    ci: list[float] | None = None
    if len(values) >= 2:
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))  # (R, n)
        means = values[picks].mean(axis=1)  # (R,)
        ci = [float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))]
    return {
        "videos": len(values),
        "diff": diff,
        "mean": float(values.mean()),
        "better": int((values > TIE).sum()),
        "worse": int((values < -TIE).sum()),
        "tied": int((np.abs(values) <= TIE).sum()),
        "ci95": ci,
    }
