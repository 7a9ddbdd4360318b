"""ActivityNet-style detection mAP in pure numpy, and the ActivityNet JSON formats.

Per class: predictions sorted by score (highest first) are matched greedily to the ground
truth of their video: a prediction is a true positive at threshold τ when its best-overlapping
still-unmatched GT instance has tIoU ≥ τ (GT instances are tried in decreasing tIoU and the
first one below τ stops the search). AP is the area under the interpolated precision-recall
curve (precision made monotone from the right). mAP averages AP over the classes that have
ground truth in the evaluated subset.

Ties are broken exactly as the official ActivityNet ``compute_average_precision_detection``
breaks them, by calling numpy the same way: predictions are visited in
``np.argsort(scores)[::-1]`` order (scores in file order, per class) and the GT instances of a
video (in file order) are tried in ``np.argsort(tiou)[::-1]`` order. numpy's default sort is
not stable; for short arrays it keeps equal keys in input order, so after the reversal the
*later* prediction / GT instance comes first on an exact tie. For long arrays the tie order
is whatever that numpy build gives (SIMD sorts differ between CPUs), which is what the
official code gets on the same machine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_TIOUS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

GroundTruth = Mapping[str, Sequence[tuple[float, float, Hashable]]]  # video -> (s, e, label)
Predictions = Mapping[str, Sequence[tuple[float, float, Hashable, float]]]  # + score


def segment_iou(target: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Temporal IoU of one [start, end] with each row of candidates.  # (2,), (N, 2) -> (N,)"""
    inter = np.clip(
        np.minimum(target[1], candidates[:, 1]) - np.maximum(target[0], candidates[:, 0]), 0, None
    )
    union = (candidates[:, 1] - candidates[:, 0]) + (target[1] - target[0]) - inter
    return inter / union


def average_precision_interpolated(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the precision-recall curve with precision made non-increasing.  # (N,), (N,)"""
    prec = np.concatenate([[0.0], precision, [0.0]])
    rec = np.concatenate([[0.0], recall, [1.0]])
    prec = np.maximum.accumulate(prec[::-1])[::-1]
    steps = np.flatnonzero(rec[1:] != rec[:-1]) + 1
    return float(np.sum((rec[steps] - rec[steps - 1]) * prec[steps]))


def match_detections(
    gt_videos: np.ndarray,
    gt_segments: np.ndarray,
    pred_videos: np.ndarray,
    pred_segments: np.ndarray,
    pred_scores: np.ndarray,
    tious: Sequence[float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ActivityNet greedy matching of one class's predictions to its GT, ties as the official code.

    gt_videos: (G,) ids; gt_segments: (G, 2); pred_videos: (P,); pred_segments: (P, 2);
    pred_scores: (P,)  ->  order (P,) prediction indices best first, tp (K, P) bool in that rank
    order, matched (K, P) int: the GT index each ranked prediction took, -1 for none.
    """
    thresholds = np.asarray(tious, dtype=np.float64)  # (K,)
    scores = np.asarray(pred_scores, dtype=np.float64)
    order = np.argsort(scores)[::-1]  # the official call: default (unstable) sort, reversed
    tp = np.zeros((len(thresholds), len(order)), dtype=bool)  # (K, P)
    matched = np.full((len(thresholds), len(order)), -1, dtype=np.int64)  # (K, P)
    if len(order) == 0 or len(gt_videos) == 0:
        return order, tp, matched
    groups: dict[Any, list[int]] = {}
    for g, video in enumerate(gt_videos.tolist()):  # the GT of a video in input order
        groups.setdefault(video, []).append(g)
    gt_of_video = {v: np.asarray(idx, dtype=np.int64) for v, idx in groups.items()}
    locked = np.zeros((len(thresholds), len(gt_videos)), dtype=bool)  # (K, G)
    rows = np.arange(len(thresholds))
    for rank, p in enumerate(order):
        gidx = gt_of_video.get(pred_videos[p])
        if gidx is None:
            continue
        iou = segment_iou(pred_segments[p], gt_segments[gidx])  # (g,)
        tried = np.argsort(iou)[::-1]  # the official try order, ties included
        candidates = gidx[tried]  # (g,) GT indices in try order
        # the search stops at the first tIoU below τ (NaN never does, as in the official loop);
        # the tIoUs are non-increasing along `tried`, so the passing ones form a prefix
        passing = ~(iou[tried][None, :] < thresholds[:, None])  # (K, g)
        free = passing & ~locked[:, candidates]  # (K, g)
        first = np.argmax(free, axis=1)  # (K,) first free candidate (0 when none)
        hit = free[rows, first]  # (K,)
        taken = candidates[first[hit]]
        locked[rows[hit], taken] = True
        tp[:, rank] = hit
        matched[rows[hit], rank] = taken
    return order, tp, matched


def average_precision_detection(
    gt_videos: np.ndarray,
    gt_segments: np.ndarray,
    pred_videos: np.ndarray,
    pred_segments: np.ndarray,
    pred_scores: np.ndarray,
    tious: Sequence[float],
) -> np.ndarray:
    """AP of one class at each tIoU threshold (matching: :func:`match_detections`).

    gt_videos: (G,) ids; gt_segments: (G, 2); pred_videos: (P,); pred_segments: (P, 2);
    pred_scores: (P,)  ->  (len(tious),)
    """
    if len(pred_scores) == 0 or len(gt_videos) == 0:
        return np.zeros(len(tious))
    _, tp, _ = match_detections(
        gt_videos, gt_segments, pred_videos, pred_segments, pred_scores, tious
    )
    tp_cum = np.cumsum(tp, axis=1, dtype=np.float64)
    fp_cum = np.cumsum(~tp, axis=1, dtype=np.float64)
    recall = tp_cum / len(gt_videos)
    precision = tp_cum / (tp_cum + fp_cum)
    return np.array(
        [average_precision_interpolated(precision[k], recall[k]) for k in range(len(tious))]
    )


def gt_by_class(
    gt: GroundTruth,
) -> tuple[list[Hashable], dict[Hashable, list[tuple[str, float, float]]]]:
    """Classes with GT in order of first appearance, and each class's (video, start, end)."""
    classes: list[Hashable] = []
    gt_rows: dict[Hashable, list[tuple[str, float, float]]] = {}
    for video, segments in gt.items():
        for start, end, label in segments:
            if label not in gt_rows:
                classes.append(label)
                gt_rows[label] = []
            gt_rows[label].append((video, float(start), float(end)))
    return classes, gt_rows


def compute_map(
    gt: GroundTruth, preds: Predictions, tious: Sequence[float] = DEFAULT_TIOUS
) -> dict[str, Any]:
    """Per-class AP and mAP.

    Returns {"mAP": {"0.1": ..}, "ap": {label: [AP per tIoU]}, "avg_0.1_0.7": ..,
    "avg_0.3_0.7": .., "tious": [...], "classes": [...]}. Classes are those with GT (in order
    of first appearance); predictions of other labels are ignored.
    """
    classes, gt_rows = gt_by_class(gt)
    pred_rows: dict[Hashable, list[tuple[str, float, float, float]]] = {c: [] for c in classes}
    for video, scored in preds.items():
        for start, end, label, score in scored:
            if label in pred_rows:
                pred_rows[label].append((video, float(start), float(end), float(score)))

    ap = np.zeros((len(classes), len(tious)))
    for i, label in enumerate(classes):
        g = gt_rows[label]
        p = pred_rows[label]
        ap[i] = average_precision_detection(
            np.array([r[0] for r in g], dtype=object),
            np.array([r[1:] for r in g], dtype=np.float64).reshape(-1, 2),
            np.array([r[0] for r in p], dtype=object),
            np.array([r[1:3] for r in p], dtype=np.float64).reshape(-1, 2),
            np.array([r[3] for r in p], dtype=np.float64),
            tious,
        )
    mean_ap = ap.mean(axis=0) if classes else np.zeros(len(tious))

    def average(lo: float, hi: float) -> float:
        sel = [m for t, m in zip(tious, mean_ap, strict=True) if lo - 1e-9 <= t <= hi + 1e-9]
        return float(np.mean(sel)) if sel else float("nan")

    return {
        "mAP": {f"{t:g}": float(m) for t, m in zip(tious, mean_ap, strict=True)},
        "ap": {str(c): [float(v) for v in ap[i]] for i, c in enumerate(classes)},
        "avg_0.1_0.7": average(0.1, 0.7),
        "avg_0.3_0.7": average(0.3, 0.7),
        "tious": [float(t) for t in tious],
        "classes": [str(c) for c in classes],
    }


def format_map_table(result: Mapping[str, Any]) -> str:
    """A small text table of mAP per tIoU and the two averages (in percent)."""
    heads = list(result["mAP"])
    lines = [
        "tIoU  " + " ".join(f"{h:>6}" for h in heads) + "   avg0.1:0.7 avg0.3:0.7",
        "mAP   "
        + " ".join(f"{100 * result['mAP'][h]:6.2f}" for h in heads)
        + f"   {100 * result['avg_0.1_0.7']:10.2f} {100 * result['avg_0.3_0.7']:10.2f}",
    ]
    return "\n".join(lines)


def load_gt_json(path: str | os.PathLike[str], subset: str | None = "test") -> dict[str, list]:
    """ActivityNet-style GT: {"database": {video: {"subset", "annotations": [{"segment",
    "label"}]}}} -> {video: [(start, end, label)]} for videos of ``subset`` (None = all)."""
    data = json.loads(Path(path).read_text())
    out: dict[str, list] = {}
    for video, rec in data["database"].items():
        if subset is not None and rec.get("subset") != subset:
            continue
        out[video] = [
            (float(a["segment"][0]), float(a["segment"][1]), a["label"])
            for a in rec.get("annotations", [])
        ]
    return out


def write_results_json(path: str | os.PathLike[str], preds: Predictions) -> None:
    """ActivityNet result file: {"version", "results": {video: [{"label", "score", "segment"}]},
    "external_data"}. Labels are written as given (use class names)."""
    results = {
        video: [
            {"label": label, "score": float(score), "segment": [float(start), float(end)]}
            for start, end, label, score in segments
        ]
        for video, segments in preds.items()
    }
    payload = {"version": "VERSION 1.3", "results": results, "external_data": {}}
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, path)


def load_results_json(path: str | os.PathLike[str]) -> dict[str, list]:
    """Inverse of :func:`write_results_json`: {video: [(start, end, label, score)]}."""
    data = json.loads(Path(path).read_text())
    return {
        video: [
            (float(r["segment"][0]), float(r["segment"][1]), r["label"], float(r["score"]))
            for r in rows
        ]
        for video, rows in data["results"].items()
    }


# ----------------------------------------------------------------------------- class names
def gt_class_names(path: str | os.PathLike[str]) -> list[str]:
    """The class list of an ActivityNet-style GT file, in class-index order.

    ``activity_list`` when present (THUMOS14: the 20 names sorted alphabetically, which is
    the ``cls_label`` index order of the official npz features); else from the annotations'
    ``idx`` fields when every annotation has one; else the sorted label names. When both
    ``activity_list`` and ``idx`` are there they must agree.
    """
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or "database" not in data:
        raise ValueError(f"{path}: not an ActivityNet-style GT file (no 'database' key)")
    by_idx: dict[int, str] = {}
    labels: set[str] = set()
    has_idx = True
    for video, rec in data["database"].items():
        for ann in rec.get("annotations", []):
            label = str(ann["label"])
            labels.add(label)
            if "idx" not in ann:
                has_idx = False
                continue
            idx = int(ann["idx"])
            if by_idx.setdefault(idx, label) != label:
                raise ValueError(
                    f"{path}: class index {idx} is used for both {by_idx[idx]!r} and {label!r} "
                    f"(video {video})"
                )
    if "activity_list" in data:
        names = [str(n) for n in data["activity_list"]]
        missing = sorted(labels - set(names))
        if missing:
            raise ValueError(f"{path}: labels {missing} are not in its activity_list")
        if has_idx:
            wrong = {i: n for i, n in by_idx.items() if i >= len(names) or names[i] != n}
            if wrong:
                raise ValueError(
                    f"{path}: annotation idx and activity_list disagree: "
                    + ", ".join(f"idx {i} is {n!r}" for i, n in sorted(wrong.items())[:5])
                )
        return names
    if has_idx and by_idx:
        if sorted(by_idx) != list(range(len(by_idx))):
            raise ValueError(f"{path}: annotation idx values {sorted(by_idx)} are not 0..C-1")
        return [by_idx[i] for i in range(len(by_idx))]
    return sorted(labels)


def load_class_list(path: str | os.PathLike[str]) -> list[str]:
    """Class names in index order from a ``.json`` list, an ActivityNet-style GT ``.json``
    (see :func:`gt_class_names`) or a text file with one name per line (blank lines and
    lines starting with ``#`` are skipped)."""
    file = Path(path)
    if file.suffix.lower() == ".json":
        data = json.loads(file.read_text())
        if isinstance(data, dict) and "database" in data:
            return gt_class_names(file)
        if not isinstance(data, list) or not all(isinstance(n, str) for n in data):
            raise ValueError(f"{path}: expected a JSON list of class names or a GT file")
        names = list(data)
    else:
        names = [
            line.strip()
            for line in file.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    if not names:
        raise ValueError(f"{path}: no class names in it")
    if len(set(names)) != len(names):
        raise ValueError(
            f"{path}: class names repeat: {sorted({n for n in names if names.count(n) > 1})}"
        )
    return names


def label_coverage(gt: GroundTruth, preds: Predictions) -> tuple[int, dict[str, int]]:
    """(number of predicted segments whose label is a GT class, {other label: segment count})."""
    classes = {label for segments in gt.values() for _, _, label in segments}
    known = 0
    unknown: dict[str, int] = {}
    for scored in preds.values():
        for _, _, label, _ in scored:
            if label in classes:
                known += 1
            else:
                unknown[str(label)] = unknown.get(str(label), 0) + 1
    return known, unknown
