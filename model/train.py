"""Training (``fit``), inference (``predict``) and checkpoints.

The best epoch is chosen on videos held out from the *training* split: by mAP on those that
have GT segments, otherwise (official npz: no segments) by how well the suppressed video
scores rank each video's labelled classes (label-ranking mAP, see :func:`video_ranking`), ties
broken by the held-out loss; :attr:`FitResult.selection` names the criterion used. The test
split is never looked at.

Under ``torchrun`` (an initialised ``torch.distributed`` process group) ``fit`` trains
data-parallel: see :mod:`model.distributed` and docs/distributed.md.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model import distributed
from model.config import (
    PUBLISHED_AUX_HIDDEN,
    PUBLISHED_FEATURE_DIM,
    PUBLISHED_HIDDEN,
    ModelConfig,
    PostConfig,
    TrainConfig,
)
from model.data import Batch, VideoItem, collate
from model.evaluate import compute_map
from model.losses import backtal_losses
from model.network import BackTAL, BackTALOutput
from model.postprocess import Segment, localize, minmax_normalize
from model.recipes import recipe_record

CHECKPOINT_FORMAT = "backtal-studio/1"


class TrainingCancelled(Exception):
    """Raised by :func:`fit` when ``should_stop()`` returned True."""


@dataclass
class FitResult:
    model: BackTAL
    best_epoch: int  # 1-based
    history: list[dict[str, Any]]  # per epoch run: {"epoch", "losses", "val"}
    holdout: list[str] = field(default_factory=list)  # names of the held-out videos
    refiner: Any = None  # model.refine.Refiner when TrainConfig.second_stage
    refine_info: dict[str, Any] = field(default_factory=dict)  # its training (model.refine)

    @property
    def stopped_early(self) -> bool:
        """True when early stopping (``TrainConfig.patience``) ended training before
        ``epochs``."""
        return bool(self.history) and self.history[-1].get("stopped", False)

    @property
    def best_metrics(self) -> dict[str, float]:
        return dict(self.history[self.best_epoch - 1]["val"])

    @property
    def selection(self) -> str:
        """How the best epoch was chosen (:func:`selection_criterion`)."""
        if not self.holdout or not self.history:
            return "no held-out videos: the last epoch"
        return selection_criterion(self.best_metrics)


@dataclass
class PredictionResult:
    segments: list[Segment]  # (start_s, end_s, class index, score), per class best first
    cas: np.ndarray  # (C, T) min-max normalised suppressed CAS (what the proposals threshold)
    video_scores: np.ndarray  # (C,) softmax video scores of the suppressed branch


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def split_holdout(
    items: Sequence[VideoItem], fraction: float, seed: int
) -> tuple[list[VideoItem], list[VideoItem]]:
    """Seeded split of the training videos into (train, held-out); at least one of each."""
    if fraction <= 0 or len(items) < 2:
        return list(items), []
    count = min(len(items) - 1, max(1, round(fraction * len(items))))
    order = np.random.default_rng(seed).permutation(len(items))
    held = set(order[:count].tolist())
    return [it for i, it in enumerate(items) if i not in held], [items[i] for i in sorted(held)]


def lr_multipliers(model_config: ModelConfig) -> dict[str, float]:
    """Per weight matrix, published fan-in / its fan-in (``lr_scaling="width"``); biases and
    anything not listed keep the base lr. All 1 at the published shapes."""
    d, h = model_config.feature_dim, model_config.hidden
    return {
        "filter_conv1.weight": PUBLISHED_FEATURE_DIM / d,
        "filter_conv2.weight": PUBLISHED_AUX_HIDDEN / model_config.filter_hidden,
        "embed_conv1.weight": PUBLISHED_FEATURE_DIM / d,
        "embed_conv2.weight": PUBLISHED_AUX_HIDDEN / model_config.embed_hidden,
        "conv1.weight": PUBLISHED_FEATURE_DIM / d,
        "conv2.weight": PUBLISHED_HIDDEN / h,
        "classifier.weight": PUBLISHED_HIDDEN / h,
    }


def init_multipliers(model_config: ModelConfig) -> dict[str, float]:
    """The classifier's initial-weight multiplier sqrt(published width / width)
    (``init_scaling="width"``); every other weight keeps its default initialisation.
    1 at the published shapes."""
    return {"classifier.weight": math.sqrt(PUBLISHED_HIDDEN / model_config.hidden)}


def click_weight_factor(epoch: int, rampup_epochs: int) -> float:
    """Multiplier of the click cross-entropy's weight in ``epoch`` (1-based) under
    ``TrainConfig.click_rampup_epochs``: min(1, (epoch - 1) / N); 1 when N = 0."""
    if rampup_epochs <= 0:
        return 1.0
    return min(1.0, (epoch - 1) / rampup_epochs)


def epoch_config(config: TrainConfig, epoch: int) -> TrainConfig:
    """The training configuration of one epoch: ``config`` itself unless a click ramp-up
    scales the click weight (the held-out loss always uses the full weights)."""
    factor = click_weight_factor(epoch, config.click_rampup_epochs)
    if factor == 1.0:
        return config
    weights = replace(config.loss_weights, click=config.loss_weights.click * factor)
    return replace(config, loss_weights=weights)


@torch.no_grad()
def scale_initial_weights(model: BackTAL, config: TrainConfig) -> None:
    """Apply ``config.init_scaling`` to a freshly initialised model (in place; no-op for
    "none", so the published initialisation and the random stream are untouched)."""
    if config.init_scaling != "width":
        return
    mult = init_multipliers(model.config)
    for name, param in model.named_parameters():
        if name in mult:
            param.mul_(mult[name])


def make_optimizer(model: BackTAL, config: TrainConfig) -> torch.optim.Adam:
    """Adam as published; the fused kernel (same update rule, one pass over the weights).
    ``config.lr_scaling="width"``: per-weight lr multipliers (:func:`lr_multipliers`)."""
    params: Any = model.parameters()
    if config.lr_scaling == "width":
        mult = lr_multipliers(model.config)
        params = [
            {"params": [p], "lr": config.lr * mult.get(name, 1.0)}
            for name, p in model.named_parameters()
        ]
    return torch.optim.Adam(
        params,
        lr=config.lr,
        betas=config.betas,
        weight_decay=config.weight_decay,
        fused=True,
    )


def forward(model: torch.nn.Module, batch: Batch, precision: str = "fp32") -> BackTALOutput:
    """Network outputs in float32; with ``precision="bf16"`` the network runs under autocast.

    ``model`` is a :class:`BackTAL`, possibly wrapped in DistributedDataParallel."""
    device_type = batch.features.device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        out = model(batch.features, batch.mask)
    return BackTALOutput(*[t.float() if t.is_floating_point() else t for t in out])


def train_step(
    model: BackTAL,
    batch: Batch,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
) -> dict[str, float]:
    """One optimisation step on a batch already on the model's device."""
    model.train()
    outputs = forward(model, batch, config.precision)
    terms = backtal_losses(
        outputs, batch, config.loss_weights, config.supervision, config.click_loss
    )
    optimizer.zero_grad(set_to_none=True)
    terms["total"].backward()
    optimizer.step()
    return {name: float(value.detach()) for name, value in terms.items()}


def sharded_train_step(
    net: torch.nn.Module,
    chunk: Sequence[VideoItem],
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    ctx: distributed.DistContext,
    device: torch.device,
) -> dict[str, float]:
    """One data-parallel step on this rank's slice of the global batch ``chunk``.

    ``net`` is the DDP-wrapped model. Each loss term is scaled by this rank's share of the
    set it is averaged over, so the averaged gradient is that of :func:`train_step` on the
    whole chunk (up to float rounding). Returns the global batch's loss terms.
    """
    lo, hi = distributed.shard_bounds(len(chunk), ctx.rank, ctx.world_size)
    shard = list(chunk[lo:hi])
    shares = distributed.loss_shares(shard, chunk, config.supervision)  # all 0 when empty
    # fewer videos than ranks: this rank still joins the all-reduce, with a zero-weight video
    shard = shard or list(chunk[:1])
    length = max(it.num_snippets for it in chunk)  # pad as the global batch is padded
    batch = distributed.pad_batch(collate(shard, config.supervision), length).to(device)
    net.train()
    outputs = forward(net, batch, config.precision)
    terms = backtal_losses(
        outputs, batch, config.loss_weights, config.supervision, config.click_loss
    )
    parts = distributed.shard_terms(terms, shares, config.loss_weights)
    optimizer.zero_grad(set_to_none=True)
    (parts["total"] * ctx.world_size).backward()  # DDP averages over ranks; we want the sum
    optimizer.step()
    return distributed.sum_across({k: float(v.detach()) for k, v in parts.items()}, device)


def _batches(items: Sequence[VideoItem], size: int) -> list[list[VideoItem]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


@torch.no_grad()
def holdout_metrics(
    model: BackTAL,
    items: Sequence[VideoItem],
    config: TrainConfig,
    device: torch.device,
) -> dict[str, float]:
    """Held-out loss; video accuracy (thresholded scores equal the labels), top-1 video
    accuracy and label-ranking mAP (:func:`video_ranking`); click consistency; and mAP on
    the held-out videos that have GT segments (``mAP_videos`` of them), when there are any."""
    model.eval()
    num_classes = model.config.num_classes
    loss_sum, correct_videos, click_hits, click_total = 0.0, 0, 0, 0
    top1_hits: list[np.ndarray] = []
    ranking_ap: list[np.ndarray] = []
    for chunk in _batches(items, config.batch_size):
        batch = collate(chunk, config.supervision).to(device)
        out = model(batch.features, batch.mask)
        terms = backtal_losses(
            out, batch, config.loss_weights, config.supervision, config.click_loss
        )
        loss_sum += float(terms["total"]) * len(chunk)
        probs = torch.softmax(out.score_supp, dim=1)[:, :num_classes]  # (B, C)
        predicted = probs >= config.post.class_threshold
        correct_videos += int((predicted == (batch.labels > 0)).all(1).sum())
        top1, ap = video_ranking(probs.float().cpu().numpy(), batch.labels.float().cpu().numpy())
        labelled = ~np.isnan(ap)
        top1_hits.append(top1[labelled])
        ranking_ap.append(ap[labelled])
        clicked = batch.points >= 0  # (B, T)
        if config.supervision != "weak":
            hits = out.cas_base.argmax(1) == batch.points  # (B, T)
            click_hits += int((hits & clicked).sum())
            click_total += int(clicked.sum())
    metrics = {"loss": loss_sum / len(items), "video_acc": correct_videos / len(items)}
    if click_total:
        metrics["click_acc"] = click_hits / click_total
    hits, aps = np.concatenate(top1_hits), np.concatenate(ranking_ap)
    if len(aps):  # videos with at least one label
        metrics["video_top1"] = float(hits.mean())
        metrics["video_map"] = float(aps.mean())
    with_gt = [it for it in items if it.gt_segments is not None]
    if any(it.gt_segments for it in with_gt):  # some held-out video has GT segments
        preds = predict(model, with_gt, config.post, device=device)
        gt = {it.name: list(it.gt_segments or []) for it in with_gt}
        # labels are class indices on both sides
        result = compute_map(gt, {name: p.segments for name, p in preds.items()})
        metrics["mAP_0.1_0.7"] = result["avg_0.1_0.7"]
        metrics["mAP_videos"] = float(len(with_gt))
    return metrics


def video_ranking(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per video: is the top-scored class labelled, and the label-ranking AP.

    scores, labels: (B, C) class scores and multi-hot labels -> top1 (B,) bool, ap (B,).
    AP = mean over the labelled classes j of (labelled classes scored ≥ s_j) / (classes
    scored ≥ s_j); a single-label video gets 1 / rank of its class. Ties count against the
    model, so uniform scores give top1 False and AP = (number of labels) / C, and neither
    needs the class threshold. A video without labels gets top1 False and AP NaN.
    """
    positive = labels > 0  # (B, C)
    at_least = scores[:, None, :] >= scores[:, :, None]  # (B, C, C): [b, j, k] = s_k >= s_j
    rank = at_least.sum(-1)  # (B, C)
    positive_rank = (at_least & positive[:, None, :]).sum(-1)  # (B, C)
    count = positive.sum(1)  # (B,)
    precision_sum = np.where(positive, positive_rank / rank, 0.0).sum(1)
    ap = np.where(count > 0, precision_sum / np.maximum(count, 1), np.nan)
    best_positive = np.where(positive, scores, -np.inf).max(1)
    best_negative = np.where(positive, -np.inf, scores).max(1)
    return best_positive > best_negative, ap


def _selection_metric(metrics: dict[str, float]) -> str | None:
    if "mAP_0.1_0.7" in metrics and not math.isnan(metrics["mAP_0.1_0.7"]):
        return "mAP_0.1_0.7"
    if "video_map" in metrics:
        return "video_map"
    return None


def selection_key(metrics: dict[str, float]) -> tuple[float, float]:
    """Higher is better: held-out mAP when some held-out videos have GT segments, else the
    label-ranking mAP of the video scores (:func:`video_ranking`); then the lower loss.

    (The thresholded video accuracy and click consistency are reported but not used: on
    official data they sat at 0.0 and 1.0 for whole runs, which left the choice to the loss.)
    """
    name = _selection_metric(metrics)
    return (metrics[name] if name else 0.0), -metrics["loss"]


def selection_criterion(metrics: dict[str, float]) -> str:
    """In words, what :func:`selection_key` ranks these held-out metrics by."""
    name = _selection_metric(metrics)
    if name == "mAP_0.1_0.7":
        count = int(metrics.get("mAP_videos", 0))
        return f"held-out mAP@0.1:0.7 on {count} videos with GT segments (ties: held-out loss)"
    if name == "video_map":
        return (
            "held-out video-label ranking mAP, no GT segments (ties: held-out loss; "
            "top-1 video accuracy in video_top1)"
        )
    return "held-out loss (no GT segments, no video labels)"


def stop_early(best_epoch: int, epoch: int, patience: int, min_epochs: int) -> bool:
    """Early stopping (``TrainConfig.patience``): after ``epoch`` (1-based), stop when the
    best held-out epoch so far is ``patience`` or more epochs back and at least ``min_epochs``
    have run. ``patience`` 0: never."""
    return patience > 0 and epoch >= min_epochs and epoch - best_epoch >= patience


def replay_early_stopping(
    keys: Sequence[tuple[float, float]], patience: int, min_epochs: int
) -> tuple[int, int]:
    """What :func:`fit` would have done with early stopping on a run whose held-out
    selection keys per epoch (:func:`selection_key`) were ``keys``: (best epoch, epochs run),
    both 1-based, by the same :func:`stop_early` rule."""
    best_key: tuple[float, float] | None = None
    best_epoch = 0
    for epoch, key in enumerate(keys, start=1):
        if best_key is None or key > best_key:
            best_key, best_epoch = key, epoch
        if stop_early(best_epoch, epoch, patience, min_epochs):
            return best_epoch, epoch
    return best_epoch, len(keys)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fit(
    config: TrainConfig,
    model_config: ModelConfig,
    train_items: Sequence[VideoItem],
    val_items: Sequence[VideoItem] | None = None,
    class_names: Sequence[str] | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_epoch_model: Callable[[int, BackTAL], None] | None = None,
) -> FitResult:
    """Train BackTAL; return the model at the best held-out epoch.

    ``on_epoch_model(epoch, model)`` sees the model after each epoch (it must not change it:
    benchmarks measure curves with it). ``val_items`` (videos of the training split set aside
    by the caller) replace the automatic
    hold-out of ``config.holdout_fraction`` of ``train_items``. Never pass the test split.
    ``class_names`` is accepted for symmetry with checkpoints and not needed here.
    """
    del class_names
    ctx = distributed.context()  # None: single process
    if ctx is None:
        device = resolve_device(config.device)
    else:
        device = distributed.rank_device(config.device, ctx.local_rank)
    seed_everything(config.seed)
    if val_items is None:
        train_set, held = split_holdout(train_items, config.holdout_fraction, config.seed)
    else:
        train_set, held = list(train_items), list(val_items)
    if not train_set:
        raise ValueError("no training videos")

    model = BackTAL(model_config).to(device)
    scale_initial_weights(model, config)
    if model_config.input_norm == "standardize":
        stacked = np.concatenate([it.features for it in train_set])  # (N, D)
        model.set_input_stats(
            torch.from_numpy(stacked.mean(0)).float(), torch.from_numpy(stacked.std(0)).float()
        )
    net = None if ctx is None else distributed.wrap(model, device)
    if ctx is not None and ctx.rank > 0:  # same init on every rank, own dropout masks
        torch.manual_seed(int(np.random.SeedSequence([config.seed, ctx.rank]).generate_state(1)[0]))
    optimizer = make_optimizer(model, config)
    shuffler = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, Any]] = []
    best_key: tuple[float, float] | None = None
    best_epoch = config.epochs
    best_state: dict[str, torch.Tensor] | None = None
    step = 0
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(len(train_set), generator=shuffler).tolist()
        sums: dict[str, float] = {}
        chunks = _batches([train_set[i] for i in order], config.batch_size)
        step_config = epoch_config(config, epoch)
        for chunk in chunks:
            stop = should_stop is not None and should_stop()
            if ctx is not None:
                stop = distributed.any_rank(stop, device)  # every rank stops at the same step
            if stop:
                raise TrainingCancelled(f"cancelled at epoch {epoch}, step {step}")
            if net is None or ctx is None:
                losses = train_step(
                    model, collate(chunk, config.supervision).to(device), optimizer, step_config
                )
            else:
                losses = sharded_train_step(net, chunk, optimizer, step_config, ctx, device)
            step += 1
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + value
        mean_losses = {name: value / len(chunks) for name, value in sums.items()}
        if ctx is None:
            val = holdout_metrics(model, held, config, device) if held else {}
        elif held:  # rank 0 evaluates; every rank gets its numbers and makes the same choice
            val = holdout_metrics(model, held, config, device) if ctx.is_main else {}
            val = distributed.broadcast_object(val)
        else:
            val = {}
        history.append({"epoch": epoch, "losses": mean_losses, "val": val})
        if held:
            key = selection_key(val)
            if best_key is None or key > best_key:
                best_key, best_epoch = key, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if on_epoch_model is not None and (ctx is None or ctx.is_main):
            on_epoch_model(epoch, model)  # e.g. a benchmark's time-to-accuracy curve
            model.train()
        stopping = bool(held) and stop_early(best_epoch, epoch, config.patience, config.min_epochs)
        if on_progress is not None and (ctx is None or ctx.is_main):
            on_progress(
                {
                    "epoch": epoch,
                    "epochs": config.epochs,
                    "step": step,
                    "losses": mean_losses,
                    "val": val,
                    "best_epoch": best_epoch if held else epoch,
                    "stopping": stopping,
                }
            )
        if stopping:  # the same on every rank: val was broadcast
            history[-1]["stopped"] = True
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    result = FitResult(
        model=model, best_epoch=best_epoch, history=history, holdout=[it.name for it in held]
    )
    if config.second_stage and (ctx is None or ctx.is_main):
        from model.refine import RefineConfig, fit_refiner

        result.refiner, result.refine_info = fit_refiner(
            model, train_set, RefineConfig(seed=config.seed), val_items=held, post=config.post
        )
    return result


@torch.no_grad()
def predict(
    model: BackTAL,
    items: Sequence[VideoItem],
    post_config: PostConfig,
    class_names: Sequence[str] | None = None,
    device: torch.device | str | None = None,
    refiner: Any = None,
) -> dict[str, PredictionResult]:
    """Segments, CAS curves and video scores for each video (one video per forward pass).

    Segment labels are class indices; map them with ``class_names`` when writing results.
    ``refiner`` (a second stage, ``FitResult.refiner``): the segments are its re-drawn ones.
    """
    del class_names
    model.eval()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    num_classes = model.config.num_classes
    results: dict[str, PredictionResult] = {}
    for item in items:
        feats = torch.from_numpy(np.ascontiguousarray(item.features.T))[None].to(
            device
        )  # (1, D, T)
        out = model(feats)
        scores = torch.softmax(out.score_supp[0], dim=0)[:num_classes].cpu().numpy()  # (C,)
        cas = out.cas_supp[0, :num_classes].cpu().numpy()  # (C, T)
        magnitudes = out.features_supp[0].norm(dim=0).cpu().numpy()  # (T,)
        segments = localize(cas, scores, magnitudes, item.frame_num, item.duration, post_config)
        if refiner is not None:
            from model.refine import refine_one

            segments = refine_one(refiner, item, segments, post_config)
        results[item.name] = PredictionResult(
            segments=segments,
            cas=minmax_normalize(cas.astype(np.float64)).astype(np.float32),
            video_scores=scores,
        )
    return results


def _plain(value: Any) -> Any:
    """Metrics as JSON types (loadable with ``weights_only=True``)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_checkpoint(
    path: str | os.PathLike[str],
    model: BackTAL,
    model_config: ModelConfig,
    train_config: TrainConfig | None,
    class_names: Sequence[str],
    metrics: dict[str, Any] | None = None,
    refiner: Any = None,
) -> None:
    """Weights + configs + class list (+ the second stage), written atomically (temp file,
    then ``os.replace``)."""
    path = Path(path)
    second = None
    if refiner is not None:
        from model.refine import refiner_state

        second = refiner_state(refiner)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_config": model_config.to_dict(),
        "train_config": train_config.to_dict() if train_config is not None else None,
        "recipe": recipe_record(model_config, train_config) if train_config is not None else None,
        "class_names": list(class_names),
        "metrics": _plain(metrics or {}),
        "second_stage": second,
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_checkpoint(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[BackTAL, ModelConfig, list[str], dict[str, Any]]:
    """(model in eval mode, model config, class names, meta = train_config + metrics + recipe)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint")
    stored = dict(payload["model_config"])
    stored.setdefault("input_norm", "none")  # written before the option existed: published
    model_config = ModelConfig.from_dict(stored)
    model = BackTAL(model_config)
    model.load_state_dict(payload["state_dict"])
    model.to(device).eval()
    refiner = None
    if payload.get("second_stage"):
        from model.refine import refiner_from_state

        refiner = refiner_from_state(payload["second_stage"]).to(device)
    meta = {
        "train_config": payload["train_config"],
        "metrics": payload["metrics"],
        "recipe": payload.get("recipe"),
        "refiner": refiner,  # model.refine.Refiner or None: pass it to predict()
    }
    return model, model_config, list(payload["class_names"]), meta
