"""Official BackTAL post-processing in pure numpy: CAS of one video -> scored segments.

For each class whose (suppressed-branch, softmax) video score is at least 0.25:
1. min-max normalise the class's CAS over time (official variant: min and max pass through a
   ReLU) and resize it linearly to frame resolution (OpenCV INTER_LINEAR convention);
2. proposals = runs of frames where the CAS passes each of 10 thresholds (0 : 0.025 : 0.25)
   and where the normalised first-layer feature magnitude passes each of 7 thresholds
   (0.3 : 0.075 : 0.8);
3. score = mean CAS inside − mean CAS in the outer ring (λ = 0.25 of the length on each side)
   + 0.2 · video score. For CAS-threshold proposals the CAS below the threshold counts as 0
   (as the official code scores the thresholded copy);
4. class-wise NMS at 0.55 (IoU computed correctly unless ``nms_plus_one``).
"""

from __future__ import annotations

import numpy as np

from model.config import PostConfig

Segment = tuple[float, float, int, float]  # (start_s, end_s, class index, score)


def minmax_normalize(cas: np.ndarray) -> np.ndarray:
    """Per-row (x − relu(min)) / (relu(max) − relu(min)), divisor 1 when ≤ 0.  # (K, T) -> (K, T)"""
    lo = np.maximum(cas.min(axis=1, keepdims=True), 0.0)
    hi = np.maximum(cas.max(axis=1, keepdims=True), 0.0)
    delta = hi - lo
    delta[delta <= 0] = 1.0
    return (cas - lo) / delta


def normalize_magnitudes(magnitudes: np.ndarray) -> np.ndarray:
    """Feature magnitudes to [0, 1] (official min-max with ReLU'd ends, clipped).  # (T,) -> (T,)"""
    return np.clip(minmax_normalize(magnitudes[None, :])[0], 0.0, 1.0)


def resize_linear(x: np.ndarray, length: int) -> np.ndarray:
    """Linear resize along the last axis, half-pixel centres, edges clamped (= cv2 INTER_LINEAR).

    # (K, T) -> (K, length)
    """
    src_len = x.shape[-1]
    pos = (np.arange(length) + 0.5) * (src_len / length) - 0.5
    pos = np.clip(pos, 0.0, src_len - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, src_len - 1)
    w = pos - lo
    return x[..., lo] * (1.0 - w) + x[..., hi] * w


def group_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximal runs of True in each row.

    mask: (R, N) bool  ->  row, start, end (exclusive) of every run, each (P,), row-major order.
    """
    edges = np.diff(np.pad(mask.astype(np.int8), ((0, 0), (1, 1))), axis=1)  # (R, N+1)
    row, start = np.nonzero(edges == 1)
    _, end = np.nonzero(edges == -1)
    return row, start, end


def score_runs(
    values: np.ndarray,
    row: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    outer_lambda: float,
) -> np.ndarray:
    """Outer-inner contrast of each run, official ring bounds.

    values: (R, N) scoring curves; row/start/end: (P,) runs (end exclusive)  ->  (P,)
    Ring: frames [max(0, ⌊s − λL⌋), s) and [e, min(N, ⌊e − 1 + λL⌋)).
    """
    n = values.shape[1]
    csum = np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(values, axis=1)], axis=1)
    length = end - start
    inner = (csum[row, end] - csum[row, start]) / length
    ring = outer_lambda * length
    outer_s = np.clip(np.floor(start - ring), 0, None).astype(np.int64)
    outer_e = np.maximum(np.minimum(n, np.floor(end - 1 + ring)).astype(np.int64), end)
    outer_sum = (csum[row, start] - csum[row, outer_s]) + (csum[row, outer_e] - csum[row, end])
    outer_len = (start - outer_s) + (outer_e - end)
    outer = np.where(outer_len > 0, outer_sum / np.maximum(outer_len, 1), 0.0)
    return inner - outer


def interval_iou(seg: np.ndarray, others: np.ndarray, plus_one: bool = False) -> np.ndarray:
    """IoU of one [start, end] with many.  # (2,), (N, 2) -> (N,)

    ``plus_one`` reproduces the official NMS, which adds 1 to lengths (meant for frame
    indices, but applied to seconds).
    """
    pad = 1.0 if plus_one else 0.0
    inter = np.maximum(
        0.0, np.minimum(seg[1], others[:, 1]) - np.maximum(seg[0], others[:, 0]) + pad
    )
    union = (seg[1] - seg[0] + pad) + (others[:, 1] - others[:, 0] + pad) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def nms(
    segments: np.ndarray, scores: np.ndarray, threshold: float, plus_one: bool = False
) -> np.ndarray:
    """Greedy NMS: keep the best, drop others with IoU ≥ threshold, repeat.

    segments: (N, 2) [start, end]; scores: (N,)  ->  kept indices, best first.
    """
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best = order[0]
        keep.append(best)
        rest = order[1:]
        iou = interval_iou(segments[best], segments[rest], plus_one)
        order = rest[iou < threshold]
    return np.array(keep, dtype=np.int64)


def localize(
    cas: np.ndarray,
    video_scores: np.ndarray,
    magnitudes: np.ndarray | None,
    frame_num: int,
    duration: float,
    config: PostConfig,
) -> list[Segment]:
    """Scored segments of one video.

    cas: (C, T) suppressed-branch CAS logits of the action classes (background dropped);
    video_scores: (C,) softmax video scores (background dropped); magnitudes: (T,) L2 norms
    of the first-layer suppressed features or None. Returns (start_s, end_s, class, score),
    classes in index order, each class's segments best first.
    """
    classes = np.flatnonzero(video_scores >= config.class_threshold)
    if classes.size == 0:
        return []
    curves = resize_linear(minmax_normalize(cas[classes].astype(np.float64)), frame_num)  # (n, N)
    cas_th = np.asarray(config.cas_thresholds)[None, :, None]  # (1, 10, 1)
    thresholded = np.where(curves[:, None, :] >= cas_th, curves[:, None, :], 0.0)  # (n, 10, N)
    masks = [thresholded > 0]
    values = [thresholded]
    if config.use_magnitudes and magnitudes is not None and config.magnitude_thresholds:
        mag = resize_linear(normalize_magnitudes(magnitudes.astype(np.float64))[None], frame_num)
        mag_th = np.asarray(config.magnitude_thresholds)[:, None]  # (7, 1)
        mag_mask = (mag >= mag_th) & (mag > 0)  # (7, N)
        masks.append(np.broadcast_to(mag_mask, (classes.size, *mag_mask.shape)))
        values.append(np.broadcast_to(curves[:, None, :], (classes.size, *mag_mask.shape)))
    mask = np.concatenate(masks, axis=1)  # (n, S, N): S proposal sources per class
    value = np.concatenate(values, axis=1)  # (n, S, N)
    sources = mask.shape[1]

    row, start, end = group_runs(mask.reshape(-1, frame_num))  # runs of every (class, source)
    score = score_runs(value.reshape(-1, frame_num), row, start, end, config.outer_lambda)
    cls = row // sources  # position in `classes`
    score = score + config.gamma * video_scores[classes][cls]
    seconds = np.stack([start, end], axis=1) / frame_num * duration  # (P, 2)

    out: list[Segment] = []
    for i, c in enumerate(classes):
        sel = np.flatnonzero(cls == i)
        if sel.size == 0:
            continue
        keep = sel[nms(seconds[sel], score[sel], config.nms_threshold, config.nms_plus_one)]
        out += [(float(seconds[j, 0]), float(seconds[j, 1]), int(c), float(score[j])) for j in keep]
    return out
