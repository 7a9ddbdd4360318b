"""The fully supervised upper bound: a snippet classifier trained on ground-truth segments.

The research benchmarks (``bench.supervision``, ``bench.click_qa``, the sim calibration) set
every weakly supervised mode beside what full temporal labels reach with the same features,
width, optimiser, epochs, held-out epoch choice, post-processing and evaluation:

* the network (:class:`SnippetClassifier`): Conv1d(D→H, k3) → LeakyReLU → Conv1d(H→H, k3) →
  LeakyReLU → dropout → Conv1d(H→C+1, k1), class C = background;
* its targets (:func:`snippet_targets`): the class of the GT instance covering each snippet's
  centre (the shorter one where two overlap), background elsewhere;
* its fit (:func:`fit_upper`): per-snippet cross-entropy, the trainer's Adam settings,
  held-out split and best-epoch choice by held-out mAP 0.1:0.7;
* its outputs (:func:`upper_outputs`): CAS = the class posterior p(c | snippet) (a raw class
  logit is not comparable across snippets: it ignores how much stronger the background logit
  is there), video score = its maximum over time, magnitudes = first-layer feature norms —
  what :func:`model.postprocess.localize` needs.

Pure PyTorch + numpy; imports nothing outside ``model``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from model.config import ModelConfig, PostConfig, TrainConfig
from model.data import IGNORE, VideoItem
from model.evaluate import compute_map
from model.postprocess import Segment, localize
from model.train import resolve_device, seed_everything, split_holdout

# name -> (cas (C, T), video scores (C,), magnitudes (T,)): what ``localize`` takes per video
Outputs = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]


class SnippetClassifier(nn.Module):
    """Fully supervised upper bound: two k=3 temporal convs + a k=1 classifier (C + 1)."""

    def __init__(self, feature_dim: int, hidden: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(feature_dim, hidden, 3, padding=1)
        self.conv2 = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.classifier = nn.Conv1d(hidden, num_classes + 1, 1)
        self.act = nn.LeakyReLU(0.01)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D, T) -> logits (B, C+1, T), first-layer features (B, H, T)"""
        h1 = self.act(self.conv1(x))
        return self.classifier(self.dropout(self.act(self.conv2(h1)))), h1


def snippet_targets(item: VideoItem, num_classes: int) -> np.ndarray:
    """(T,) int64: class of the GT instance covering each snippet's centre, C elsewhere
    (overlapping instances: the shorter one wins)."""
    length = item.num_snippets
    centres = (np.arange(length) + 0.5) * item.duration / length
    out = np.full(length, num_classes, dtype=np.int64)
    span = np.full(length, np.inf)
    for start, end, label in item.gt_segments or []:
        inside = (centres >= start) & (centres < end) & (end - start < span)
        out[inside] = int(label)
        span[inside] = end - start
    return out


def stack_batch(items: Sequence[VideoItem], num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded features (B, D, T) and targets (B, T) (IGNORE on padding)."""
    length = max(it.num_snippets for it in items)
    feats = np.zeros((len(items), items[0].features.shape[1], length), dtype=np.float32)
    targets = np.full((len(items), length), IGNORE, dtype=np.int64)
    for b, it in enumerate(items):
        feats[b, :, : it.num_snippets] = it.features.T
        targets[b, : it.num_snippets] = snippet_targets(it, num_classes)
    return torch.from_numpy(feats), torch.from_numpy(targets)


@torch.no_grad()
def upper_outputs(
    model: SnippetClassifier, items: Sequence[VideoItem], num_classes: int, device: torch.device
) -> Outputs:
    """Per video: CAS = posterior p(class | snippet) (C, T), video score = its max over time
    (C,), first-layer feature magnitudes (T,)."""
    model.eval()
    out = {}
    for item in items:
        x = torch.from_numpy(np.ascontiguousarray(item.features.T))[None].to(device)  # (1, D, T)
        logits, h1 = model(x)  # (1, C+1, T), (1, H, T)
        probs = torch.softmax(logits[0], 0)[:num_classes]  # (C, T)
        cas = probs.cpu().numpy().astype(np.float64)
        scores = probs.amax(1).cpu().numpy()  # (C,)
        out[item.name] = (cas, scores, h1[0].norm(dim=0).cpu().numpy())
    return out


def predict_upper(
    model: SnippetClassifier,
    items: Sequence[VideoItem],
    post: PostConfig,
    num_classes: int,
    device: torch.device,
) -> dict[str, list[Segment]]:
    """Scored segments per video (the official post-processing on the posteriors)."""
    outputs = upper_outputs(model, items, num_classes, device)
    return {it.name: localize(*outputs[it.name], it.frame_num, it.duration, post) for it in items}


def fit_upper(
    config: TrainConfig,
    model_config: ModelConfig,
    items: Sequence[VideoItem],
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[SnippetClassifier, int, list[dict[str, Any]]]:
    """Train the upper bound with the trainer's optimiser, hold-out and epoch selection.

    Uses ``config``'s lr, betas, weight decay, batch size, epochs, seed, device, held-out
    fraction and post-processing, and ``model_config``'s feature_dim, hidden, num_classes and
    dropout. Returns (model at the best held-out epoch, that epoch, per-epoch history).
    """
    device = resolve_device(config.device)
    seed_everything(config.seed)
    train_set, held = split_holdout(items, config.holdout_fraction, config.seed)
    num_classes = model_config.num_classes
    model = SnippetClassifier(
        model_config.feature_dim, model_config.hidden, num_classes, model_config.dropout
    ).to(device)
    opt = torch.optim.Adam(
        model.parameters(), lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
    )
    shuffler = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, Any]] = []
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(train_set), generator=shuffler).tolist()
        losses = []
        for i in range(0, len(order), config.batch_size):
            chunk = [train_set[j] for j in order[i : i + config.batch_size]]
            x, y = stack_batch(chunk, num_classes)  # (B, D, T), (B, T)
            logits, _ = model(x.to(device))  # (B, C+1, T)
            loss = F.cross_entropy(logits, y.to(device), ignore_index=IGNORE)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        val: dict[str, float] = {}
        if held:
            preds = predict_upper(model, held, config.post, num_classes, device)
            gt = {it.name: list(it.gt_segments or []) for it in held}
            val["mAP_0.1_0.7"] = compute_map(gt, preds)["avg_0.1_0.7"]
            if best is None or val["mAP_0.1_0.7"] > best[0]:
                state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                best = (val["mAP_0.1_0.7"], epoch, state)
        history.append(
            {"epoch": epoch, "losses": {"snippet_ce": float(np.mean(losses))}, "val": val}
        )
        if on_progress is not None:
            on_progress({"epoch": epoch, "epochs": config.epochs, **history[-1]})
    best_epoch = config.epochs
    if best is not None:
        best_epoch = best[1]
        model.load_state_dict(best[2])
    model.eval()
    return model, best_epoch, history
