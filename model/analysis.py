"""False-positive error analysis of temporal action detections, after DETAD.

DETAD (Alwassel et al., ECCV 2018, "Diagnosing Error in Temporal Action Detectors") looks at
the top-ranked predictions and sorts every false positive into one error type. We follow its
rules:

- **Which predictions**: of each class c with N_c ground-truth instances, the top
  ``int(limit_factor * N_c)`` predictions of that class by score (``limit_factor`` = 10 in
  DETAD, so "the top 10G"). Predictions of labels without GT are left out (and counted).
- **True positives**: ActivityNet matching (:func:`model.evaluate.match_detections`): per
  class, predictions in score order, each GT instance matched at most once, ties broken as
  the official evaluator breaks them. The cut keeps a prefix of that order, so it changes no
  prediction's status.
- **Error type of a false positive at threshold t**, decided by the GT instance of the same
  video with the highest tIoU, *of any class* (on an exact tie the first in GT file order):

  ====================  ===================  =========================
  its tIoU              its label = ours     its label ≠ ours
  ====================  ===================  =========================
  ≥ t                   double detection     wrong label
  ≥ min_tiou (0.1), <t  localization         confusion
  < min_tiou            background           background
  ====================  ===================  =========================

  A video without GT makes every prediction in it a background error. Because the
  highest-tIoU GT decides, a prediction at tIoU 0.6 with a GT of its own class (already
  taken by a better-scored prediction) and 0.7 with a GT of another class is a wrong-label
  error. A double detection needs no extra check: a false positive whose own-class GT has
  tIoU ≥ t only happens when that GT was already taken.

The ``profile`` is DETAD's "false positive profile" at the summary threshold: the
predictions of per-class rank [(g−1)·N_c, g·N_c) for g = 1..limit_factor ("1G" .. "10G")
broken down into true positives and the five error types.

Pure numpy; :func:`plot_false_positive_analysis` imports matplotlib when called.
"""

from __future__ import annotations

import math
import os
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from model.evaluate import (
    GroundTruth,
    Predictions,
    gt_by_class,
    match_detections,
    segment_iou,
)

ERROR_TYPES = ("double_detection", "wrong_label", "localization", "confusion", "background")
ERROR_TITLES = {
    "true_positive": "true positive",
    "double_detection": "double detection",
    "wrong_label": "wrong label",
    "localization": "localization",
    "confusion": "confusion",
    "background": "background",
}
ANALYSIS_TIOUS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def classify_error(
    top_tiou: float, same_label: bool, tiou_threshold: float, min_tiou: float = 0.1
) -> str:
    """Error type of a false positive from its highest-tIoU GT (DETAD's precedence).

    ``top_tiou``: the highest tIoU with any GT of the video (0 when it has none);
    ``same_label``: whether that GT has the prediction's label.
    """
    if top_tiou >= tiou_threshold:
        return "double_detection" if same_label else "wrong_label"
    if top_tiou >= min_tiou:
        return "localization" if same_label else "confusion"
    return "background"


def _key(t: float) -> str:
    return f"{t:g}"


def _breakdown(tp: int, counts: dict[str, int]) -> dict[str, Any]:
    """Counts at one threshold -> counts, false positives, shares of FP and of predictions."""
    fp = sum(counts.values())
    total = tp + fp
    return {
        "true_positive": tp,
        "false_positive": fp,
        "counts": dict(counts),
        # shares among the false positives (all 0 when there are none)
        "share_of_fp": {k: (v / fp if fp else 0.0) for k, v in counts.items()},
        # DETAD's breakdown: shares among all analysed predictions, true positives included
        "share_of_predictions": {
            k: (v / total if total else 0.0) for k, v in {"true_positive": tp, **counts}.items()
        },
    }


def false_positive_analysis(
    gt: GroundTruth,
    preds: Predictions,
    tious: Sequence[float] = ANALYSIS_TIOUS,
    summary_tiou: float = 0.5,
    limit_factor: float = 10,
    min_tiou: float = 0.1,
) -> dict[str, Any]:
    """DETAD false-positive analysis: a JSON-able dict (see the module docstring for the rules).

    gt: {video: [(start, end, label)]}; preds: {video: [(start, end, label, score)]}.
    Returns {"tious", "summary_tiou", "limit_factor", "min_tiou", "num_gt",
    "num_predictions" (analysed), "num_predictions_total" (with a GT class label),
    "ignored_labels" {label: count}, "videos_without_gt", "error_types",
    "per_tiou" {"0.1": breakdown, ...}, "summary": breakdown at summary_tiou,
    "profile" {"tiou", "bins" ["1G", ...], "breakdown" [counts per bin incl. true_positive]}}
    where a breakdown is {"true_positive", "false_positive", "counts" {type: n},
    "share_of_fp" {type: x}, "share_of_predictions" {"true_positive" and types: x}}.
    """
    if limit_factor <= 0:
        raise ValueError(f"limit_factor must be positive, got {limit_factor}")
    if not 0 < min_tiou <= 1:
        raise ValueError(f"min_tiou must be in (0, 1], got {min_tiou}")
    bad = [t for t in (*tious, summary_tiou) if not 0 < t <= 1]
    if bad:
        raise ValueError(f"tIoU thresholds must be in (0, 1], got {bad}")
    thresholds = [float(t) for t in tious]
    all_thresholds = list(thresholds)
    if float(summary_tiou) not in all_thresholds:
        all_thresholds.append(float(summary_tiou))
    summary_index = all_thresholds.index(float(summary_tiou))

    # GT per class (in order of first appearance) and per video (all classes)
    classes, gt_rows = gt_by_class(gt)
    video_gt: dict[str, tuple[np.ndarray, list[Hashable]]] = {}
    for video, segments in gt.items():
        video_gt[video] = (
            np.array([(s, e) for s, e, _ in segments], dtype=np.float64).reshape(-1, 2),
            [lab for _, _, lab in segments],
        )
    pred_rows: dict[Hashable, list[tuple[str, float, float, float]]] = {c: [] for c in classes}
    ignored: dict[str, int] = {}
    videos_without_gt = 0
    for video, scored in preds.items():
        if scored and (video not in video_gt or not video_gt[video][1]):
            videos_without_gt += 1
        for start, end, label, score in scored:
            if label in pred_rows:
                pred_rows[label].append((video, float(start), float(end), float(score)))
            else:
                ignored[str(label)] = ignored.get(str(label), 0) + 1

    num_bins = math.ceil(limit_factor)
    tp_count = np.zeros(len(all_thresholds), dtype=np.int64)
    counts = np.zeros((len(all_thresholds), len(ERROR_TYPES)), dtype=np.int64)
    profile = np.zeros((num_bins, 1 + len(ERROR_TYPES)), dtype=np.int64)  # TP, then types
    analysed = 0
    for label in classes:
        g, p = gt_rows[label], pred_rows[label]
        if not p:
            continue
        segs = np.array([r[1:3] for r in p], dtype=np.float64).reshape(-1, 2)
        order, tp, _ = match_detections(
            np.array([r[0] for r in g], dtype=object),
            np.array([r[1:] for r in g], dtype=np.float64).reshape(-1, 2),
            np.array([r[0] for r in p], dtype=object),
            segs,
            np.array([r[3] for r in p], dtype=np.float64),
            all_thresholds,
        )
        keep = min(len(order), int(limit_factor * len(g)))
        analysed += keep
        for rank in range(keep):
            i = order[rank]
            gt_segs, gt_labels = video_gt.get(p[i][0], (np.zeros((0, 2)), []))
            if gt_labels:
                iou = segment_iou(segs[i], gt_segs)
                best = int(np.argmax(iou))  # first in GT order on a tie, as DETAD
                top, same = float(iou[best]), gt_labels[best] == label
            else:
                top, same = 0.0, False
            for k, thr in enumerate(all_thresholds):
                if tp[k, rank]:
                    tp_count[k] += 1
                    kind = -1
                else:
                    kind = ERROR_TYPES.index(classify_error(top, same, thr, min_tiou))
                    counts[k, kind] += 1
                if k == summary_index:
                    profile[min(rank // len(g), num_bins - 1), kind + 1] += 1

    def breakdown(k: int) -> dict[str, Any]:
        return _breakdown(
            int(tp_count[k]), {t: int(counts[k, j]) for j, t in enumerate(ERROR_TYPES)}
        )

    kinds = ("true_positive", *ERROR_TYPES)
    return {
        "tious": thresholds,
        "summary_tiou": float(summary_tiou),
        "limit_factor": limit_factor,
        "min_tiou": min_tiou,
        "num_gt": sum(len(r) for r in gt_rows.values()),
        "num_predictions": analysed,
        "num_predictions_total": sum(len(r) for r in pred_rows.values()),
        "ignored_labels": ignored,
        "videos_without_gt": videos_without_gt,
        "error_types": list(ERROR_TYPES),
        "per_tiou": {_key(t): breakdown(k) for k, t in enumerate(thresholds)},
        "summary": breakdown(summary_index),
        "profile": {
            "tiou": float(summary_tiou),
            "bins": [f"{b + 1}G" for b in range(num_bins)],
            "breakdown": [{kinds[j]: int(row[j]) for j in range(len(kinds))} for row in profile],
        },
    }


def format_analysis_table(result: dict[str, Any]) -> str:
    """Text table: per tIoU the TP and FP counts and each error type's share of the FPs (%)."""
    heads = [ERROR_TITLES[t] for t in ERROR_TYPES]
    width = max(len(h) for h in heads)
    lines = [
        f"top {result['limit_factor']:g}G predictions per class: {result['num_predictions']} "
        f"of {result['num_predictions_total']}, {result['num_gt']} GT instances",
        "tIoU     TP     FP  " + " ".join(f"{h:>{width}}" for h in heads),
    ]
    rows = [(k, v) for k, v in result["per_tiou"].items()]
    if _key(result["summary_tiou"]) not in result["per_tiou"]:
        rows.append((_key(result["summary_tiou"]), result["summary"]))
    for key, row in rows:
        shares = " ".join(f"{100 * row['share_of_fp'][t]:{width}.1f}" for t in ERROR_TYPES)
        lines.append(f"{key:<5}{row['true_positive']:>6} {row['false_positive']:>6}  {shares}")
    lines.append("(error types in % of the false positives at each tIoU)")
    return "\n".join(lines)


COLORS = {
    "true_positive": "#33a02c",
    "double_detection": "#b2df8a",
    "wrong_label": "#1f78b4",
    "localization": "#fb9a99",
    "confusion": "#e31a1c",
    "background": "#a6cee3",
}


def plot_false_positive_analysis(result: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """PNG with two stacked-bar panels: DETAD's profile (1G..kG at the summary tIoU, true
    positives included) and the false positives' error types at each tIoU."""
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
        raise RuntimeError(
            "the plot needs matplotlib: install the project's dependencies "
            "(pip install -e .) or leave out --plot"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    bins = result["profile"]["bins"]
    rows = result["profile"]["breakdown"]
    bottom = np.zeros(len(bins))
    for kind in ("true_positive", *ERROR_TYPES):
        totals = np.array([sum(r.values()) for r in rows], dtype=np.float64)
        values = np.array([r[kind] for r in rows], dtype=np.float64)
        share = np.divide(100 * values, totals, out=np.zeros_like(values), where=totals > 0)
        left.bar(bins, share, bottom=bottom, color=COLORS[kind], label=ERROR_TITLES[kind])
        bottom += share
    left.set_title(f"false positive profile, tIoU {result['profile']['tiou']:g}")
    left.set_xlabel("top predictions (G = GT instances of the class)")
    left.set_ylabel("share of predictions (%)")
    left.set_ylim(0, 100)

    keys = list(result["per_tiou"])
    bottom = np.zeros(len(keys))
    for kind in ERROR_TYPES:
        share = np.array([100 * result["per_tiou"][k]["share_of_fp"][kind] for k in keys])
        right.bar(keys, share, bottom=bottom, color=COLORS[kind], label=ERROR_TITLES[kind])
        bottom += share
    right.set_title("false positives by error type")
    right.set_xlabel("tIoU threshold")
    right.set_ylabel("share of false positives (%)")
    right.set_ylim(0, 100)
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=6, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
