"""Trainings of every supervision mode and of the fully supervised upper bound under a
benchmark's :class:`~bench.lab.settings.Settings`, and their test evaluation.

* :func:`configs` — the network and training configuration of one (mode, seed): the legacy
  recipe's fields, or a named :mod:`model.recipes` recipe at the benchmark's widths;
* :func:`run_one` — train one (mode, seed) (``model.train.fit``, or
  ``model.upper_bound.fit_upper``), localize the test videos with the official
  post-processing and score them (ActivityNet mAP at tIoU 0.1:0.1:0.7), with the oracle-label
  diagnostic and video top-1;
* :func:`outputs_backtal` / :func:`outputs_upper` and :func:`localize_all` — what
  ``localize`` needs per video, and the segments.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.lab.settings import UPPER, Settings
from model.config import LossWeights, ModelConfig, PostConfig, TrainConfig
from model.data import VideoItem
from model.evaluate import compute_map, write_results_json
from model.network import BackTAL
from model.postprocess import Segment, localize
from model.train import fit, resolve_device
from model.upper_bound import Outputs, SnippetClassifier, fit_upper, upper_outputs

TIOUS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
Clicks = dict[str, list[int]]  # video name -> sorted background-click snippet indices


def configs(
    mode: str,
    seed: int,
    settings: Settings,
    train_items: Sequence[VideoItem],
    num_classes: int,
    device: str,
) -> tuple[ModelConfig, TrainConfig]:
    """The network and training configuration of one (mode, seed) under ``settings`` (the
    upper bound takes the optimiser, epochs and hold-out of ``bg-click``'s)."""
    supervision = "bg-click" if mode == UPPER else mode
    feature_dim = train_items[0].features.shape[1]
    if settings.recipe:
        from model import recipes

        return recipes.resolve(
            settings.recipe,
            feature_dim=feature_dim,
            num_classes=num_classes,
            overrides=settings.recipe_options(supervision, seed, device),
        )
    model_config = ModelConfig(
        feature_dim=feature_dim,
        num_classes=num_classes,
        hidden=settings.hidden,
        embed_hidden=settings.aux_hidden,
        filter_hidden=settings.aux_hidden,
        filter_norm=settings.filter_norm,
        input_norm=settings.input_norm,
    )
    config = TrainConfig(
        lr_scaling=settings.lr_scaling,
        init_scaling=settings.init_scaling,
        click_rampup_epochs=settings.click_rampup_epochs,
        supervision=supervision,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        seed=seed,
        device=device,
        holdout_fraction=settings.holdout,
        loss_weights=LossWeights(**dict.fromkeys(settings.zero_losses, 0.0)),
    )
    return model_config, config


def with_clicks(items: Sequence[VideoItem], clicks: Clicks | None) -> list[VideoItem]:
    """The videos with ``clicks`` as their background clicks (None: as they are)."""
    if clicks is None:
        return list(items)
    return [
        replace(it, bg_clicks=np.asarray(clicks.get(it.name, []), dtype=np.int64)) for it in items
    ]


def outputs_upper(
    model: SnippetClassifier, items: Sequence[VideoItem], num_classes: int, device: torch.device
) -> Outputs:
    """The upper bound's posteriors as CAS (``model.upper_bound.upper_outputs``)."""
    return upper_outputs(model, items, num_classes, device)


@torch.no_grad()
def outputs_backtal(model: BackTAL, items: Sequence[VideoItem]) -> Outputs:
    """What ``model.train.predict`` feeds to ``localize``: suppressed CAS, softmax video
    scores of the suppressed branch, first-layer suppressed feature magnitudes."""
    model.eval()
    device = next(model.parameters()).device
    num_classes = model.config.num_classes
    out = {}
    for item in items:
        x = torch.from_numpy(np.ascontiguousarray(item.features.T))[None].to(device)  # (1, D, T)
        o = model(x)
        scores = torch.softmax(o.score_supp[0], dim=0)[:num_classes].cpu().numpy()  # (C,)
        cas = o.cas_supp[0, :num_classes].cpu().numpy().astype(np.float64)  # (C, T)
        out[item.name] = (cas, scores, o.features_supp[0].norm(dim=0).cpu().numpy())
    return out


def localize_all(
    outputs: Outputs, items: Sequence[VideoItem], post: PostConfig, oracle: bool = False
) -> dict[str, list[Segment]]:
    """Segments per video; ``oracle``: the GT video labels replace the predicted video scores
    (a diagnostic that isolates localization from video classification)."""
    preds = {}
    for item in items:
        cas, scores, mags = outputs[item.name]
        if oracle:
            scores = item.labels.astype(np.float64)
        preds[item.name] = localize(cas, scores, mags, item.frame_num, item.duration, post)
    return preds


def video_top1(outputs: Outputs, items: Sequence[VideoItem]) -> float:
    """Fraction of videos whose highest-scoring class is one of their GT classes."""
    hits = [item.labels[int(np.argmax(outputs[item.name][1]))] > 0 for item in items]
    return float(np.mean(hits))


def evaluate_test(preds: dict[str, list[Segment]], test: Sequence[VideoItem]) -> dict[str, Any]:
    """mAP per tIoU (0.1:0.1:0.7) and the two averages on the videos of ``test``."""
    gt = {it.name: list(it.gt_segments or []) for it in test}
    result = compute_map(gt, {k: v for k, v in preds.items() if k in gt}, tious=TIOUS)
    return {k: result[k] for k in ("mAP", "avg_0.1_0.7", "avg_0.3_0.7")}


def run_one(
    mode: str,
    seed: int,
    settings: Settings,
    train_items: Sequence[VideoItem],
    test_items: Sequence[VideoItem],
    num_classes: int,
    device: str,
    log: Callable[[str], None],
    preds_path: Path | None = None,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Train one (mode, seed) and evaluate it on the test split; the test predictions are
    written to ``preds_path`` (ActivityNet results layout, class names) when given."""
    model_config, config = configs(mode, seed, settings, train_items, num_classes, device)
    started = time.perf_counter()

    def progress(info: dict[str, Any]) -> None:
        losses = info["losses"]
        shown = {k: losses[k] for k in ("total", "video_supp", "snippet_ce") if k in losses}
        if "fg_norm" in losses:
            shown["mean_fg"] = losses["fg_norm"] / settings.T
        text = " ".join(f"{k}={v:.3f}" for k, v in shown.items())
        val = info["val"].get("mAP_0.1_0.7")
        held = f" holdout_mAP={100 * val:.1f}" if val is not None else ""
        log(
            f"  seed {seed} {mode:12s} epoch {info['epoch']:3d}/{info['epochs']} {text}{held}"
            f" [{time.perf_counter() - started:.0f} s]"
        )

    if mode == UPPER:
        model, best_epoch, history = fit_upper(config, model_config, train_items, progress)
        train_s = time.perf_counter() - started
        outputs = outputs_upper(model, test_items, num_classes, resolve_device(device))
    else:
        result = fit(config, model_config, train_items, on_progress=progress)
        best_epoch, history = result.best_epoch, result.history
        train_s = time.perf_counter() - started
        outputs = outputs_backtal(result.model, test_items)
    preds = localize_all(outputs, test_items, config.post)
    metrics = evaluate_test(preds, test_items)
    oracle = evaluate_test(localize_all(outputs, test_items, config.post, True), test_items)
    if preds_path is not None:
        preds_path.parent.mkdir(parents=True, exist_ok=True)
        names = class_names or [f"class_{i}" for i in range(num_classes)]
        write_results_json(
            preds_path,
            {v: [(s, e, names[int(c)], sc) for s, e, c, sc in segs] for v, segs in preds.items()},
        )
    return {
        "mode": mode,
        "seed": seed,
        "best_epoch": best_epoch,
        "train_s": round(train_s, 1),
        "total_s": round(time.perf_counter() - started, 1),
        "test": metrics,
        "test_oracle_labels": oracle,
        "test_video_top1": video_top1(outputs, test_items),
        "curve": [
            {
                "epoch": h["epoch"],
                **{k: float(v) for k, v in h["losses"].items()},
                **{f"holdout_{k}": float(v) for k, v in h["val"].items()},
            }
            for h in history
        ],
    }
