"""A second stage: pseudo-segments from the first stage, bounded by clicks, and a
boundary-regressing snippet localizer trained on them (docs/benchmarks.md, "Click losses",
second family). Built from the published pattern (point-supervised methods credit dense
pseudo-labels and proposal-level boundary regression, e.g. HR-Pro's second stage), not from
any released code.

Training (videos with video-level labels, first-stage model fixed):
1. pseudo-labels (:func:`pseudo_labels`): for each labelled class c of a video, the first
   stage's min-max normalised suppressed CAS ≥ ``fg_threshold`` marks snippets of c; snippets
   whose CAS is below ``bg_threshold`` for every labelled class are background; the rest is
   ignored. A background click makes its snippet background (so **no pseudo-segment covers a
   clicked moment**: clicks cut and trim runs), an action click makes its snippet its class.
   Pseudo-segments are the maximal runs of a class; every snippet inside one gets its distances
   to the run's start and end as regression targets.
2. :class:`Refiner`: Conv1d(D→H, k3) → ReLU → Conv1d(H→H, k3) → ReLU → dropout → a class head
   Conv1d(H→C+1, k3) and a distance head Conv1d(H→2, k3) + softplus (snippets to the start and
   to the end). Loss: cross-entropy on the pseudo-labels (ignored snippets left out) +
   ``reg_weight`` · (1 − tIoU) of the predicted vs the target interval at pseudo-foreground
   snippets. Inputs z-scored with the training snippets' statistics (stored in the model).
   Adam; the epoch with the best held-out mAP is kept.

Inference (:func:`refine_segments`): the first stage's own proposals and video scores (the
official post-processing, :func:`model.postprocess.localize`) are kept; each proposal of class c
gets new boundaries — the mean of the start and end the refiner regresses at the snippets inside
it, weighted by the refiner's probability of c there — and a new score, its first-stage score +
the refiner's mean probability of c inside the new boundaries (a sum: first-stage scores can be
negative); then class-wise NMS again.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from model.config import PostConfig
from model.data import IGNORE, VideoItem
from model.evaluate import compute_map
from model.network import BackTAL
from model.postprocess import Segment, nms


@dataclass(frozen=True)
class RefineConfig:
    fg_threshold: float = 0.5
    bg_threshold: float = 0.2
    hidden: int = 128
    dropout: float = 0.5
    reg_weight: float = 1.0
    lr: float = 1e-3
    weight_decay: float = 1e-4
    epochs: int = 20
    batch_size: int = 16
    seed: int = 0


@dataclass(frozen=True)
class PseudoLabels:
    labels: np.ndarray  # (T,) int64: class, C = background, IGNORE = unsure
    distances: np.ndarray  # (T, 2) float32 snippets to the run's start and end; 0 outside runs


def pseudo_labels(
    cas: np.ndarray,
    video_labels: np.ndarray,
    bg_clicks: np.ndarray,
    action_clicks: np.ndarray,
    fg_threshold: float,
    bg_threshold: float,
) -> PseudoLabels:
    """Snippet pseudo-labels of one training video (module docstring, step 1).

    cas: (C, T) min-max normalised first-stage CAS; video_labels: (C,) multi-hot;
    bg_clicks: (Kb,) snippet indices; action_clicks: (Ka, 2) [snippet, class].
    A snippet above ``fg_threshold`` for two labelled classes takes the higher one."""
    num_classes, length = cas.shape
    labelled = np.flatnonzero(video_labels > 0)
    labels = np.full(length, IGNORE, dtype=np.int64)
    if labelled.size:
        own = cas[labelled]  # (L, T)
        best = own.argmax(0)  # (T,)
        top = own.max(0)
        labels[top < bg_threshold] = num_classes
        fg = top >= fg_threshold
        labels[fg] = labelled[best[fg]]
    else:
        labels[:] = num_classes
    for t, c in np.asarray(action_clicks, dtype=np.int64).reshape(-1, 2):
        labels[t] = c
    labels[np.asarray(bg_clicks, dtype=np.int64)] = num_classes
    distances = np.zeros((length, 2), dtype=np.float32)
    t = 0
    while t < length:
        c = labels[t]
        if c in (IGNORE, num_classes):
            t += 1
            continue
        end = t
        while end < length and labels[end] == c:
            end += 1
        idx = np.arange(t, end)
        distances[idx, 0] = idx - t + 0.5  # centre of snippet i to the run's start
        distances[idx, 1] = end - idx - 0.5  # ... and to its end
        t = end
    return PseudoLabels(labels, distances)


class Refiner(nn.Module):
    refine_config: RefineConfig  # the settings it was trained with (set by fit_refiner)

    def __init__(self, feature_dim: int, num_classes: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(feature_dim, hidden, 3, padding=1)
        self.conv2 = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.cls = nn.Conv1d(hidden, num_classes + 1, 3, padding=1)
        self.reg = nn.Conv1d(hidden, 2, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("input_mean", torch.zeros(feature_dim))
        self.register_buffer("input_std", torch.ones(feature_dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D, T) raw features -> class logits (B, C+1, T), distances (B, 2, T) ≥ 0."""
        mean, std = self.get_buffer("input_mean"), self.get_buffer("input_std")
        x = (x - mean[:, None]) / std[:, None]
        h = self.dropout(F.relu(self.conv2(F.relu(self.conv1(x)))))
        return self.cls(h), F.softplus(self.reg(h))


def interval_iou_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 − tIoU of intervals given as distances from the same point.  # (N, 2), (N, 2) -> (N,)"""
    inter = torch.minimum(pred[:, 0], target[:, 0]) + torch.minimum(pred[:, 1], target[:, 1])
    union = pred.sum(1) + target.sum(1) - inter
    return 1.0 - inter / union.clamp(min=1e-6)


@torch.no_grad()
def first_stage_outputs(
    model: BackTAL, items: Sequence[VideoItem], post: PostConfig
) -> dict[str, Any]:
    """Per video: (segments of the official post-processing, min-max normalised CAS (C, T))."""
    from model.train import predict

    return {name: (r.segments, r.cas) for name, r in predict(model, items, post).items()}


def _stack(
    items: Sequence[VideoItem], targets: dict[str, PseudoLabels]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    length = max(it.num_snippets for it in items)
    dim = items[0].features.shape[1]
    x = np.zeros((len(items), dim, length), dtype=np.float32)
    y = np.full((len(items), length), IGNORE, dtype=np.int64)
    d = np.zeros((len(items), length, 2), dtype=np.float32)
    for b, it in enumerate(items):
        n = it.num_snippets
        x[b, :, :n] = it.features.T
        y[b, :n] = targets[it.name].labels
        d[b, :n] = targets[it.name].distances
    return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(d)


def refiner_loss(
    logits: torch.Tensor, dist: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor, w: float
) -> torch.Tensor:
    """logits (B, C+1, T), dist (B, 2, T), labels (B, T), targets (B, T, 2) -> ()"""
    num_classes = logits.shape[1] - 1
    ce = F.cross_entropy(logits, labels, ignore_index=IGNORE)
    fg = (labels != IGNORE) & (labels != num_classes)  # (B, T)
    if not bool(fg.any()):
        return ce
    reg = interval_iou_loss(dist.permute(0, 2, 1)[fg], targets[fg]).mean()
    return ce + w * reg


def fit_refiner(
    first: BackTAL,
    train_items: Sequence[VideoItem],
    config: RefineConfig,
    val_items: Sequence[VideoItem] = (),
    post: PostConfig | None = None,
) -> tuple[Refiner, dict[str, Any]]:
    """Train the second stage on ``first``'s pseudo-labels of ``train_items``; the epoch with
    the best mAP (avg 0.1:0.7) on ``val_items`` (training videos held out) is kept."""
    post = post or PostConfig()
    torch.manual_seed(config.seed)
    outputs = first_stage_outputs(first, train_items, post)
    targets = {
        it.name: pseudo_labels(
            outputs[it.name][1],
            it.labels,
            it.bg_clicks,
            it.action_clicks,
            config.fg_threshold,
            config.bg_threshold,
        )
        for it in train_items
    }
    num_classes = first.config.num_classes
    refiner = Refiner(train_items[0].features.shape[1], num_classes, config.hidden, config.dropout)
    refiner.refine_config = config
    stacked = np.concatenate([it.features for it in train_items])
    refiner.get_buffer("input_mean").copy_(torch.from_numpy(stacked.mean(0)))
    refiner.get_buffer("input_std").copy_(torch.from_numpy(stacked.std(0)).clamp(min=1e-6))
    opt = torch.optim.Adam(refiner.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    val_first = first_stage_outputs(first, val_items, post) if val_items else {}
    shuffler = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, float]] = []
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    labels_all = np.concatenate([t.labels for t in targets.values()])
    info: dict[str, Any] = {
        "pseudo_fg_share": float(np.mean((labels_all >= 0) & (labels_all < num_classes))),
        "pseudo_ignored_share": float(np.mean(labels_all == IGNORE)),
    }
    for epoch in range(1, config.epochs + 1):
        refiner.train()
        order = torch.randperm(len(train_items), generator=shuffler).tolist()
        losses = []
        for i in range(0, len(order), config.batch_size):
            chunk = [train_items[j] for j in order[i : i + config.batch_size]]
            x, y, d = _stack(chunk, targets)
            logits, dist = refiner(x)
            loss = refiner_loss(logits, dist, y, d, config.reg_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        row = {"epoch": float(epoch), "loss": float(np.mean(losses))}
        if val_items:
            preds = refine_segments(refiner, val_items, val_first, post)
            gt = {it.name: list(it.gt_segments or []) for it in val_items}
            row["holdout_mAP_0.1_0.7"] = compute_map(gt, preds)["avg_0.1_0.7"]
            if best is None or row["holdout_mAP_0.1_0.7"] > best[0]:
                best = (row["holdout_mAP_0.1_0.7"], epoch, copy.deepcopy(refiner.state_dict()))
        history.append(row)
    if best is not None:
        refiner.load_state_dict(best[2])
    refiner.eval()
    info["best_epoch"] = best[1] if best is not None else config.epochs
    info["history"] = history
    return refiner, info


def refine_segments(
    refiner: Refiner,
    items: Sequence[VideoItem],
    first: dict[str, Any],
    post: PostConfig,
    boundaries: bool = True,
    scores: bool = True,
) -> dict[str, list[Segment]]:
    """New boundaries and scores for the first stage's proposals (module docstring)."""
    return {
        it.name: refine_one(refiner, it, first[it.name][0], post, boundaries, scores)
        for it in items
    }


def refine_proposals(
    segments: Sequence[Segment],
    probs: np.ndarray,
    distances: np.ndarray,
    duration: float,
    post: PostConfig,
    boundaries: bool = True,
    scores: bool = True,
) -> list[Segment]:
    """One video: proposals (start_s, end_s, class, score), refiner probabilities (C+1, T) and
    distances (2, T, in snippets) -> refined, re-scored, NMS'd proposals. ``boundaries`` /
    ``scores`` False keep the proposal's own edges / score (an ablation: which of the two
    the second stage changes for better or worse; docs/research/click-losses.md)."""
    length = probs.shape[1]
    per_snippet = duration / length
    centres = np.arange(length) + 0.5
    starts = centres - distances[0]  # (T,) regressed start of each snippet's interval
    ends = centres + distances[1]
    refined: list[tuple[float, float, int, float]] = []
    for start_s, end_s, c, score in segments:
        lo = min(length - 1, max(0, int(np.floor(start_s / per_snippet))))
        hi = max(lo + 1, min(length, int(np.ceil(end_s / per_snippet))))
        w = probs[c, lo:hi]
        if w.sum() <= 0:
            continue
        new_lo = float(np.sum(w * starts[lo:hi]) / w.sum())
        new_hi = float(np.sum(w * ends[lo:hi]) / w.sum())
        new_lo, new_hi = max(0.0, new_lo), min(float(length), new_hi)
        if not boundaries:
            new_lo, new_hi = start_s / per_snippet, end_s / per_snippet
        if new_hi <= new_lo:
            continue
        a = int(np.floor(new_lo + 1e-9))
        b = max(a + 1, int(np.ceil(new_hi - 1e-9)))  # snippets inside, float noise aside
        confidence = float(probs[c, a:b].mean()) if scores else 0.0
        refined.append((new_lo * per_snippet, new_hi * per_snippet, int(c), score + confidence))
    out: list[Segment] = []
    for c in sorted({r[2] for r in refined}):
        mine = [r for r in refined if r[2] == c]
        segs = np.array([[r[0], r[1]] for r in mine])
        values = np.array([r[3] for r in mine])
        keep = nms(segs, values, post.nms_threshold, post.nms_plus_one)
        out += [mine[int(k)] for k in keep]
    return out


def refine_one(
    refiner: Refiner,
    item: VideoItem,
    segments: Sequence[Segment],
    post: PostConfig,
    boundaries: bool = True,
    scores: bool = True,
) -> list[Segment]:
    """The second stage on one video's first-stage proposals (what ``predict`` calls)."""
    if not segments:
        return []
    refiner.eval()
    device = next(refiner.parameters()).device
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(item.features.T))[None].to(device)
        logits, dist = refiner(x)
    probs = torch.softmax(logits[0], 0).cpu().numpy().astype(np.float64)  # (C+1, T)
    d = dist[0].cpu().numpy().astype(np.float64)  # (2, T)
    return refine_proposals(segments, probs, d, item.duration, post, boundaries, scores)


def refiner_state(refiner: Refiner) -> dict[str, Any]:
    """What a checkpoint keeps of a second stage (its settings, shape and weights)."""
    return {
        "config": dict(refiner.refine_config.__dict__),
        "shape": [refiner.conv1.in_channels, refiner.cls.out_channels - 1],
        "state_dict": {k: v.detach().cpu() for k, v in refiner.state_dict().items()},
    }


def refiner_from_state(state: dict[str, Any]) -> Refiner:
    config = RefineConfig(**state["config"])
    feature_dim, num_classes = state["shape"]
    refiner = Refiner(int(feature_dim), int(num_classes), config.hidden, config.dropout)
    refiner.load_state_dict(state["state_dict"])
    refiner.refine_config = config
    return refiner.eval()


def refine_predict(
    first: BackTAL, refiner: Refiner, items: Sequence[VideoItem], post: PostConfig
) -> dict[str, list[Segment]]:
    """Both stages on ``items``."""
    return refine_segments(refiner, items, first_stage_outputs(first, items, post), post)
