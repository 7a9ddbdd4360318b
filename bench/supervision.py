"""THUMOS14-sim supervision benchmark: weak vs action clicks vs background clicks vs both,
plus a fully supervised snippet classifier (upper bound), over several seeds.

For each seed s: generate THUMOS14-sim with seed s (real GT, real background clicks from
``--clicks``, synthetic features; see docs/sim.md), train every supervision mode with training
seed s on the 'val' split (10 % of it held out to choose the best epoch; the test split is
never looked at before the final evaluation), localize on the 210 test videos with the
official post-processing and compute the ActivityNet mAP at tIoU 0.1:0.1:0.7. Results are
written after every training to ``OUT/supervision.json`` (a rerun with the same settings
resumes from it) and the table to ``OUT/supervision.md``.

Upper bound: a temporal conv net of the same width on the same features, trained with
per-snippet cross-entropy (C + 1 classes, labels from the GT segments), same optimiser,
epochs, hold-out selection, post-processing (``model.postprocess.localize`` on the class
posteriors) and evaluation.

    python bench/supervision.py --quick        # 1 seed, 60 + 60 videos, 10 epochs
    python bench/supervision.py                # 3 seeds, all 200 + 210 videos, 40 epochs:
                                               # 22 min on 2 quiet cores (docs/benchmarks.md)
    python bench/supervision.py --device cuda --feature-dim 2048 --T 750 --hidden 2048 \
        --aux-hidden 512 --batch-size 16 --lr 1e-4 --epochs 40 --filter-norm none \
        --no-standardize                       # the published network and recipe, on a GPU

CPU defaults (chosen once, the same for every mode; why: docs/benchmarks.md): sim v2 (the
``model.sim.SimParams`` defaults), D = 2x128, T = 375, widths 128, 40 epochs, batch 8, lr 1e-3,
z-scored features, the published foreground filter (``--filter-norm topk`` for the top-k
normalised one). ``--sim-param NAME=VALUE`` overrides any sim parameter.

Any click CSV in the COIN layout can be passed with ``--clicks`` (e.g. a second annotator's).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.config import (
    FILTER_NORMS,
    INIT_SCALINGS,
    INPUT_NORMS,
    LR_SCALINGS,
    SUPERVISION_MODES,
    LossWeights,
    ModelConfig,
    PostConfig,
    TrainConfig,
)
from model.data import IGNORE, VideoItem, load_class_names, load_npz_split
from model.evaluate import compute_map, write_results_json
from model.network import BackTAL
from model.postprocess import localize
from model.train import (
    fit,
    resolve_device,
    seed_everything,
    split_holdout,
)

UPPER = "upper-bound"
ALL_MODES = (*SUPERVISION_MODES, UPPER)
# bg-click first, so that its loss curve (the soundness check) is the first thing a run shows
RUN_ORDER = ("bg-click", "action-click", "weak", "both", UPPER)
TIOUS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_GT = ROOT.parent / "shared" / "thumos14" / "gt_thumos14.json"
DEFAULT_CLICKS = ROOT.parent / "shared" / "thumos14" / "THUMOS14_Background-Click-Annotation_A1.txt"
LOSS_TERMS = ("video_base", "video_supp", "fg_norm", "click", "separation", "embedding")
CHANCE = math.log(21)  # suppressed-branch video CE of a uniform 21-way prediction


@dataclass(frozen=True)
class Settings:
    """Everything that changes the numbers (stored with the results; a resume must match)."""

    seeds: tuple[int, ...]
    modes: tuple[str, ...]
    feature_dim: int
    T: int
    limit: int | None
    hidden: int
    aux_hidden: int
    filter_norm: str
    standardize: bool
    epochs: int
    batch_size: int
    lr: float
    holdout: float
    gt_sha: str
    clicks_sha: str
    zero_losses: tuple[str, ...] = ()  # BackTAL loss terms switched off (ablations)
    sim_overrides: tuple[tuple[str, float], ...] = ()  # SimParams fields set by --sim-param
    input_norm: str = "none"  # ModelConfig.input_norm (in-network standardization)
    lr_scaling: str = "none"  # TrainConfig.lr_scaling (per-layer lr by published width)
    init_scaling: str = "none"  # TrainConfig.init_scaling (classifier init by published width)
    click_rampup_epochs: int = 0  # TrainConfig.click_rampup_epochs (click CE ramped in)

    def sim_params(self) -> Any:
        from model import sim

        overrides: dict[str, Any] = dict(self.sim_overrides)
        return sim.SimParams(feature_dim=self.feature_dim, T=self.T, **overrides)

    def key(self) -> dict[str, Any]:
        from dataclasses import asdict

        out = dict(self.__dict__)
        del out["seeds"], out["modes"]  # adding seeds or modes to a finished run is fine
        if self.zero_losses:
            out["zero_losses"] = sorted(self.zero_losses)
        else:
            del out["zero_losses"]
        del out["sim_overrides"]
        # keys of older result files stay valid
        for name in ("input_norm", "lr_scaling", "init_scaling"):
            if out[name] == "none":
                del out[name]
        if not self.click_rampup_epochs:
            del out["click_rampup_epochs"]
        # the resolved sim parameters: a changed SimParams default invalidates old results
        out["sim_params"] = asdict(self.sim_params())
        return out


# ----------------------------------------------------------------------------- upper bound
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


def _stack(items: Sequence[VideoItem], num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded (B, D, T) features and (B, T) targets (IGNORE on padding)."""
    length = max(it.num_snippets for it in items)
    feats = np.zeros((len(items), items[0].features.shape[1], length), dtype=np.float32)
    targets = np.full((len(items), length), IGNORE, dtype=np.int64)
    for b, it in enumerate(items):
        feats[b, :, : it.num_snippets] = it.features.T
        targets[b, : it.num_snippets] = snippet_targets(it, num_classes)
    return torch.from_numpy(feats), torch.from_numpy(targets)


Outputs = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # name -> cas, scores, mags


@torch.no_grad()
def outputs_upper(
    model: SnippetClassifier, items: Sequence[VideoItem], num_classes: int, device: torch.device
) -> Outputs:
    """Per video: CAS = posterior p(class | snippet) (C, T), video score = its max over time
    (C,), first-layer feature magnitudes (T,). (A raw class logit is not comparable across
    snippets: it ignores how much stronger the background logit is there.)"""
    model.eval()
    out = {}
    for item in items:
        x = torch.from_numpy(np.ascontiguousarray(item.features.T))[None].to(device)
        logits, h1 = model(x)
        probs = torch.softmax(logits[0], 0)[:num_classes]  # (C, T)
        cas = probs.cpu().numpy().astype(np.float64)
        scores = probs.amax(1).cpu().numpy()
        out[item.name] = (cas, scores, h1[0].norm(dim=0).cpu().numpy())
    return out


@torch.no_grad()
def outputs_backtal(model: BackTAL, items: Sequence[VideoItem]) -> Outputs:
    """What ``model.train.predict`` feeds to ``localize``: suppressed CAS, softmax video
    scores of the suppressed branch, first-layer suppressed feature magnitudes."""
    model.eval()
    device = next(model.parameters()).device
    num_classes = model.config.num_classes
    out = {}
    for item in items:
        x = torch.from_numpy(np.ascontiguousarray(item.features.T))[None].to(device)
        o = model(x)
        scores = torch.softmax(o.score_supp[0], dim=0)[:num_classes].cpu().numpy()
        cas = o.cas_supp[0, :num_classes].cpu().numpy().astype(np.float64)
        out[item.name] = (cas, scores, o.features_supp[0].norm(dim=0).cpu().numpy())
    return out


def localize_all(
    outputs: Outputs, items: Sequence[VideoItem], post: PostConfig, oracle: bool = False
) -> dict[str, list[tuple[float, float, int, float]]]:
    """Segments per video; ``oracle``: the GT video labels replace the predicted video scores
    (a diagnostic that isolates localization from video classification)."""
    preds = {}
    for item in items:
        cas, scores, mags = outputs[item.name]
        if oracle:
            scores = item.labels.astype(np.float64)
        preds[item.name] = localize(cas, scores, mags, item.frame_num, item.duration, post)
    return preds


def predict_upper(
    model: SnippetClassifier,
    items: Sequence[VideoItem],
    post: PostConfig,
    num_classes: int,
    device: torch.device,
) -> dict[str, list[tuple[float, float, int, float]]]:
    return localize_all(outputs_upper(model, items, num_classes, device), items, post)


def video_top1(outputs: Outputs, items: Sequence[VideoItem]) -> float:
    """Fraction of videos whose highest-scoring class is one of their GT classes."""
    hits = [item.labels[int(np.argmax(outputs[item.name][1]))] > 0 for item in items]
    return float(np.mean(hits))


def fit_upper(
    config: TrainConfig,
    model_config: ModelConfig,
    items: Sequence[VideoItem],
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[SnippetClassifier, int, list[dict[str, Any]]]:
    """Train the upper bound with the trainer's optimiser, hold-out and epoch selection."""
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
            x, y = _stack(chunk, num_classes)
            logits, _ = model(x.to(device))
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


# ----------------------------------------------------------------------------- one run
def standardize(
    train: Sequence[VideoItem], test: Sequence[VideoItem]
) -> tuple[list[VideoItem], list[VideoItem]]:
    """Z-score every feature dimension with the mean and std of the training snippets."""
    from dataclasses import replace

    stacked = np.concatenate([it.features for it in train])  # (N, D)
    mean = stacked.mean(0).astype(np.float32)
    std = (stacked.std(0) + 1e-6).astype(np.float32)

    def z(items: Sequence[VideoItem]) -> list[VideoItem]:
        return [replace(it, features=(it.features - mean) / std) for it in items]

    return z(train), z(test)


def evaluate_test(
    preds: dict[str, list[tuple[float, float, int, float]]], test: Sequence[VideoItem]
) -> dict[str, Any]:
    gt = {it.name: list(it.gt_segments or []) for it in test}
    result = compute_map(gt, {k: v for k, v in preds.items() if k in gt}, tious=TIOUS)
    return {k: result[k] for k in ("mAP", "avg_0.1_0.7", "avg_0.3_0.7")}


def configs(
    mode: str,
    seed: int,
    settings: Settings,
    train_items: Sequence[VideoItem],
    num_classes: int,
    device: str,
) -> tuple[ModelConfig, TrainConfig]:
    """The network and training configuration of one (mode, seed) under ``settings``."""
    model_config = ModelConfig(
        feature_dim=train_items[0].features.shape[1],
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
        supervision="bg-click" if mode == UPPER else mode,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        seed=seed,
        device=device,
        holdout_fraction=settings.holdout,
        loss_weights=LossWeights(**dict.fromkeys(settings.zero_losses, 0.0)),
    )
    return model_config, config


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


# ----------------------------------------------------------------------------- table
def _mean_std(values: Sequence[float] | np.ndarray) -> str:
    arr = 100 * np.asarray(values, dtype=np.float64)
    if arr.size == 1:
        return f"{arr[0]:.1f}"
    return f"{arr.mean():.1f} ± {arr.std(ddof=1):.1f}"


def _columns(run: dict[str, Any], key: str = "test") -> list[float]:
    test = run[key]
    return [test["mAP"][f"{t:g}"] for t in TIOUS] + [test["avg_0.1_0.7"], test["avg_0.3_0.7"]]


def markdown_table(runs: Sequence[dict[str, Any]], modes: Sequence[str], key: str = "test") -> str:
    """mAP (%) per tIoU and the two averages, mean ± sample std over the seeds present."""
    head = [f"@{t:g}" for t in TIOUS] + ["avg 0.1:0.7", "avg 0.3:0.7"]
    lines = [
        "| supervision | seeds | " + " | ".join(head) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in head) + " |",
    ]
    for mode in modes:
        mine = sorted((r for r in runs if r["mode"] == mode), key=lambda r: r["seed"])
        if not mine:
            continue
        cols = np.array([_columns(r, key) for r in mine])  # (S, 9)
        cells = [_mean_std(cols[:, j]) for j in range(cols.shape[1])]
        seeds = ",".join(str(r["seed"]) for r in mine)
        lines.append(f"| {mode} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def margins_table(runs: Sequence[dict[str, Any]]) -> str:
    """Paired per-seed differences of mAP@0.5 and avg 0.1:0.7 (mean ± std, and per seed)."""
    by = {(r["mode"], r["seed"]): r for r in runs}
    pairs = [
        ("bg-click", "action-click"),
        ("bg-click", "weak"),
        ("action-click", "weak"),
        ("both", "bg-click"),
        (UPPER, "bg-click"),
    ]
    lines = [
        "| margin | seeds | Δ mAP@0.5 | Δ avg 0.1:0.7 | per seed Δ@0.5 |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for a, b in pairs:
        seeds = sorted(s for (m, s) in by if m == a and (b, s) in by)
        if not seeds:
            continue
        d05 = [by[a, s]["test"]["mAP"]["0.5"] - by[b, s]["test"]["mAP"]["0.5"] for s in seeds]
        davg = [by[a, s]["test"]["avg_0.1_0.7"] - by[b, s]["test"]["avg_0.1_0.7"] for s in seeds]
        per = ", ".join(f"{100 * d:+.1f}" for d in d05)
        lines.append(
            f"| {a} − {b} | {','.join(map(str, seeds))} | {_mean_std(d05)} | {_mean_std(davg)}"
            f" | {per} |"
        )
    return "\n".join(lines)


def curve_table(runs: Sequence[dict[str, Any]], mode: str = "bg-click") -> str:
    """Per epoch: suppressed-branch video loss and mean foreground weight, per seed."""
    mine = sorted((r for r in runs if r["mode"] == mode), key=lambda r: r["seed"])
    if not mine:
        return ""
    head = (
        "| epoch | "
        + " | ".join(f"video_supp s{r['seed']} | mean a s{r['seed']}" for r in mine)
        + " |"
    )
    lines = [head, "| ---: | " + " | ".join("---: | ---:" for _ in mine) + " |"]
    for i in range(max(len(r["curve"]) for r in mine)):
        cells = []
        for r in mine:
            if i < len(r["curve"]):
                c = r["curve"][i]
                cells.append(f"{c['video_supp']:.3f} | {c['fg_norm'] / r['T']:.3f}")
            else:
                cells.append(" | ")
        lines.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


PLATEAU_LEVEL = 0.9  # the training loss has left its plateau once video_supp < 0.9·ln(C+1)


def plateau_exit(curve: Sequence[dict[str, Any]], chance: float = CHANCE) -> int | None:
    """First epoch (1-based) whose mean training suppressed-branch video loss is below
    ``PLATEAU_LEVEL`` × chance (ln(C+1): a uniform prediction); None if it never is.

    At the start every mode sits at chance in that term (the filter shrinks, the suppressed
    scores are uniform, no class passes inference); leaving it is when localization starts.
    """
    for point in curve:
        if point["video_supp"] < PLATEAU_LEVEL * chance:
            return int(point["epoch"])
    return None


def _exit_text(curve: Sequence[dict[str, Any]]) -> str:
    epoch = plateau_exit(curve)
    return str(epoch) if epoch is not None else f"> {len(curve)}"


def plateau_table(runs: Sequence[dict[str, Any]]) -> str:
    """Per mode: the plateau-exit epoch of each seed."""
    lines = ["| supervision | plateau exit epoch per seed |", "| --- | --- |"]
    for mode in SUPERVISION_MODES:
        mine = sorted((r for r in runs if r["mode"] == mode), key=lambda r: r["seed"])
        if mine:
            cells = ", ".join(f"s{r['seed']}: {_exit_text(r['curve'])}" for r in mine)
            lines.append(f"| {mode} | {cells} |")
    return "\n".join(lines)


def draw_curves(
    ax1: Any, ax2: Any, runs: Sequence[dict[str, Any]], colors: dict[str, str], **line: Any
) -> None:
    """Per BackTAL run: training video_supp per epoch on ``ax1``, held-out mAP on ``ax2``; one
    legend entry per mode (its first seed's line). ``line``: matplotlib line options plus an
    optional ``suffix`` for the legend labels."""
    suffix = line.pop("suffix", "")
    first = min(r["seed"] for r in runs)
    for r in sorted(runs, key=lambda r: (r["seed"], RUN_ORDER.index(r["mode"]))):
        if r["mode"] == UPPER:
            continue
        epochs = [c["epoch"] for c in r["curve"]]
        label = f"{r['mode']}{suffix}" if r["seed"] == first else None
        style = {"color": colors[r["mode"]], "label": label, **line}
        ax1.plot(epochs, [c["video_supp"] for c in r["curve"]], **style)
        ax2.plot(epochs, [100 * c.get("holdout_mAP_0.1_0.7", np.nan) for c in r["curve"]], **style)


def plot_results(payload: dict[str, Any], out_dir: Path) -> list[Path]:
    """mAP per tIoU (mean ± std over seeds) and per-epoch curves (training video_supp,
    held-out mAP) of every mode, as PNGs in ``out_dir``; [] without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    runs = payload["runs"]
    modes = [m for m in ALL_MODES if any(r["mode"] == m for r in runs)]
    written = []
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for mode in modes:
        rows = np.array(
            [[r["test"]["mAP"][f"{t:g}"] for t in TIOUS] for r in runs if r["mode"] == mode]
        )
        mean = 100 * rows.mean(0)
        std = 100 * rows.std(0, ddof=1) if len(rows) > 1 else np.zeros_like(mean)
        ax.errorbar(TIOUS, mean, yerr=std, marker="o", capsize=3, label=f"{mode} (n={len(rows)})")
    ax.set_xlabel("tIoU threshold")
    ax.set_ylabel("test mAP (%)")
    ax.set_title("mAP per tIoU, mean ± std over seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out_dir / "map_per_tiou.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = dict(zip(modes, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    draw_curves(ax1, ax2, runs, colors, alpha=0.8)
    ax1.axhline(CHANCE, color="grey", ls="--", lw=1, label="chance ln 21")
    ax1.axhline(PLATEAU_LEVEL * CHANCE, color="grey", ls=":", lw=1, label="plateau exit level")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training video_supp loss")
    ax1.set_title("suppressed-branch video loss (one line per seed)")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("held-out mAP 0.1:0.7 (%)")
    ax2.set_title("held-out training videos (chooses the epoch)")
    for a in (ax1, ax2):
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    path = out_dir / "curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    return written


FP_TYPES = ("background", "localization", "confusion", "wrong_label", "double_detection")


def fp_summary(gt_path: Path, preds_path: Path) -> dict[str, Any]:
    """DETAD false-positive breakdown (``model.analysis``) of one run's test predictions:
    per tIoU, the count of false positives and the share of each error type."""
    from model.analysis import false_positive_analysis
    from model.evaluate import load_gt_json, load_results_json

    result = false_positive_analysis(load_gt_json(gt_path, "test"), load_results_json(preds_path))
    out: dict[str, Any] = {
        key: {
            "false_positive": b["false_positive"],
            "true_positive": b["true_positive"],
            "share_of_fp": b["share_of_fp"],
        }
        for key, b in result["per_tiou"].items()
    }
    # DETAD's false-positive profile at 0.5: the best-ranked G predictions of each class ("1G")
    out["profile_1G"] = result["profile"]["breakdown"][0]
    return out


def fp_table(runs: Sequence[dict[str, Any]], tiou: str = "0.5") -> str:
    """Per mode at ``tiou``: true and false positives among the top-10G predictions, the
    number of background errors (mean over seeds) and the share (%) of each false-positive
    type (mean ± std over seeds)."""
    lines = [
        "| supervision | seeds | TP | FP | background errors | "
        + " | ".join(f"% {t.replace('_', ' ')}" for t in FP_TYPES)
        + " |",
        "| --- | --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in FP_TYPES) + " |",
    ]
    for mode in ALL_MODES:
        mine = sorted(
            (r for r in runs if r["mode"] == mode and "fp_analysis" in r), key=lambda r: r["seed"]
        )
        if not mine:
            continue
        at = [r["fp_analysis"][tiou] for r in mine]
        cells = [_mean_std([a["share_of_fp"][t] for a in at]) for t in FP_TYPES]
        tp = np.mean([a["true_positive"] for a in at])
        fp = np.mean([a["false_positive"] for a in at])
        bg = np.mean([a["false_positive"] * a["share_of_fp"]["background"] for a in at])
        seeds = ",".join(str(r["seed"]) for r in mine)
        lines.append(
            f"| {mode} | {seeds} | {tp:.0f} | {fp:.0f} | {bg:.0f} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def profile_table(runs: Sequence[dict[str, Any]]) -> str:
    """Per mode: the best-ranked G predictions of each class (DETAD's "1G" bin at tIoU 0.5),
    true positives and each error type, mean over seeds."""
    kinds = ("true_positive", *FP_TYPES)
    lines = [
        "| supervision | seeds | " + " | ".join(k.replace("_", " ") for k in kinds) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in kinds) + " |",
    ]
    for mode in ALL_MODES:
        mine = [r for r in runs if r["mode"] == mode and "profile_1G" in r.get("fp_analysis", {})]
        if mine:
            cells = [
                f"{np.mean([r['fp_analysis']['profile_1G'][k] for r in mine]):.0f}" for k in kinds
            ]
            seeds = ",".join(str(r["seed"]) for r in sorted(mine, key=lambda r: r["seed"]))
            lines.append(f"| {mode} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reanalyze(out_dir: Path) -> dict[str, Any]:
    """Recompute every run's false-positive analysis from its saved predictions and rewrite
    the tables and plots of ``out_dir`` (``--render-only``); nothing is trained."""
    json_path = out_dir / "supervision.json"
    payload = json.loads(json_path.read_text())
    for run in payload["runs"]:
        preds = out_dir / "preds" / f"{run['mode']}-seed{run['seed']}.json"
        gt = out_dir / f"sim-seed{run['seed']}" / "gt.json"
        if preds.exists() and gt.exists():
            run["fp_analysis"] = fp_summary(gt, preds)
    _write_json(json_path, payload)
    (out_dir / "supervision.md").write_text(render(payload))
    plot_results(payload, out_dir)
    plot_fp(payload, out_dir)
    return payload


def plot_fp(payload: dict[str, Any], out_dir: Path, tiou: str = "0.5") -> Path | None:
    """Stacked bars: each mode's false positives at ``tiou`` by type (mean over seeds)."""
    runs = [r for r in payload["runs"] if "fp_analysis" in r]
    if not runs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in ALL_MODES if any(r["mode"] == m for r in runs)]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    bottom = np.zeros(len(modes))
    for kind in FP_TYPES:
        counts = np.array(
            [
                np.mean(
                    [
                        r["fp_analysis"][tiou]["share_of_fp"][kind]
                        * r["fp_analysis"][tiou]["false_positive"]
                        for r in runs
                        if r["mode"] == m
                    ]
                )
                for m in modes
            ]
        )
        ax.bar(modes, counts, bottom=bottom, label=kind.replace("_", " "))
        bottom += counts
    ax.set_ylabel(f"false positives at tIoU {tiou} (top-10G, mean over seeds)")
    ax.set_title("DETAD false-positive breakdown on the test videos")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out_dir / "fp_breakdown.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def render(payload: dict[str, Any]) -> str:
    runs, s = payload["runs"], payload["settings"]
    modes = [m for m in ALL_MODES if any(r["mode"] == m for r in runs)]
    done = f"{len(runs)} of {len(payload['seeds']) * len(payload['modes'])} trainings finished"
    parts = [
        "# THUMOS14-sim supervision benchmark",
        "",
        f"Command: `{payload['command']}`",
        "",
        f"Settings: {json.dumps(s)}; seeds {payload['seeds']}; {done}.",
        "",
        "mAP (%) on the 210 test videos, mean ± std (ddof 1) over seeds:",
        "",
        markdown_table(runs, modes),
        "",
        "Diagnostic, not the benchmark: the same trained models with the GT video labels in"
        " place of the predicted video scores (localization alone):",
        "",
        markdown_table([r for r in runs if "test_oracle_labels" in r], modes, "test_oracle_labels"),
        "",
        "Test video classification (top-1 class is a GT class): "
        + ", ".join(
            f"{m} {_mean_std([r['test_video_top1'] for r in runs if r['mode'] == m])} %"
            for m in modes
            if any(r["mode"] == m and "test_video_top1" in r for r in runs)
        ),
        "",
        "Paired margins (same seed = same sim and same training seed), points of mAP:",
        "",
        margins_table(runs),
        "",
        "True and false positives of the top-10G predictions at tIoU 0.5 and the false positives"
        " by DETAD type (`model.cli analyze` on `preds/<mode>-seed<s>.json`; counts: mean over"
        " seeds):",
        "",
        fp_table(runs),
        "",
        "The best-ranked predictions (DETAD's 1G bin at tIoU 0.5: the top G of each class, G its"
        " number of GT instances), mean over seeds:",
        "",
        profile_table(runs),
        "",
        f"Plateau exit (first epoch with training video_supp < {PLATEAU_LEVEL} × ln 21):",
        "",
        plateau_table(runs),
        "",
        f"Suppressed-branch video loss (bg-click; chance ln 21 = {CHANCE:.2f}) and mean "
        "foreground weight a_t, per epoch:",
        "",
        curve_table(runs),
        "",
        "Time per training (s, training + test evaluation): "
        + ", ".join(f"{r['mode']}/s{r['seed']} {r['total_s']:.0f}" for r in runs),
        "",
    ]
    return "\n".join(parts)


# ----------------------------------------------------------------------------- driver
def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_sim(
    settings: Settings, gt: Path, clicks: Path, seed: int, root: Path, log: Callable[[str], None]
) -> Path:
    """Generate the sim of ``seed`` unless a matching one is already there."""
    from dataclasses import asdict

    from model import sim

    out = root / f"sim-seed{seed}"
    cfg_path = out / "sim_config.json"
    params = settings.sim_params()
    if cfg_path.exists():
        cfg = json.loads(cfg_path.read_text())
        if (
            cfg["seed"] == seed
            and cfg["params"] == asdict(params)
            and cfg["limit_videos"] == settings.limit
            and cfg["gt"]["sha256"] == settings.gt_sha
            and cfg["clicks"]["sha256"] == settings.clicks_sha
        ):
            log(f"reusing {out}")
            return out
    log(f"generating THUMOS14-sim seed {seed} in {out}")
    summary = sim.make_sim(
        gt, clicks, out, seed, params, limit_videos=settings.limit, progress=False
    )
    log(
        f"  {summary['videos']} videos, {summary['bg_click_rows']} bg click rows, "
        f"{summary['seconds']} s"
    )
    return out


def command_line(script: str, argv: Sequence[str] | None) -> str:
    """How the benchmark was started (stored with its results): ``python bench/<script> …``."""
    args = argv if argv is not None else sys.argv[1:]
    return f"python bench/{script} " + " ".join(shlex.quote(a) for a in args)


def run_pending(
    pending: Callable[[set[Hashable]], list[dict[str, Any]]],
    key: Callable[[dict[str, Any]], Hashable],
    task: Callable[..., dict[str, Any]],
    task_args: tuple[Any, ...],
    finished: Callable[[dict[str, Any]], None],
    jobs: int,
    log: Callable[[str], None],
    describe: Callable[[dict[str, Any]], str],
) -> None:
    """Run ``task(spec, *task_args)`` for what ``pending`` offers until it offers nothing.

    ``pending(busy)``: the specs ready to run, best first, none whose ``key`` is in ``busy``
    (a finished run may make new ones ready: the guided rounds are a chain). ``finished``
    gets each run in this process, in completion order. ``jobs`` <= 1: one at a time here;
    else that many at once in spawned worker processes (``task`` must be importable; every
    training seeds itself, so the runs equal a one-process run).
    """
    if jobs <= 1:
        while todo := pending(set()):
            log(f"{describe(todo[0])}: training")
            finished(task(todo[0], *task_args))
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        running: dict[Future[dict[str, Any]], Hashable] = {}
        while True:
            for spec in pending(set(running.values()))[: jobs - len(running)]:
                log(f"{describe(spec)}: training")
                running[pool.submit(task, spec, *task_args)] = key(spec)
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                del running[future]
                finished(future.result())


def minute_log() -> Callable[[str], None]:
    """A log that prints each line after the minutes since it was made: ``[   3.2 min] …``."""
    started = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{(time.perf_counter() - started) / 60:6.1f} min] {msg}", flush=True)

    return log


def stored_payload(json_path: Path, key: Any, log: Callable[[str], None]) -> dict[str, Any] | None:
    """The results stored at ``json_path`` when they were made with the settings ``key`` (a
    rerun resumes them); None when there are none or they were made with other settings."""
    if not json_path.exists():
        return None
    old: dict[str, Any] = json.loads(json_path.read_text())
    if old.get("settings") != key:
        return None
    log(f"resuming: {len(old['runs'])} trainings already in {json_path}")
    return old


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)


_WORKER_DATA: dict[str, tuple[list[VideoItem], list[VideoItem], list[str]]] = {}


def load_sim_items(
    sim_dir: Path, standardize_features: bool
) -> tuple[list[VideoItem], list[VideoItem], list[str]]:
    """Training and test videos of one generated sim (z-scored when asked) and class names."""
    key = f"{sim_dir}|{standardize_features}"
    if key not in _WORKER_DATA:
        train_items = load_npz_split(sim_dir, "val")
        test_items = load_npz_split(sim_dir, "test")
        names = load_class_names(sim_dir, "val", train_items[0].labels.shape[0])
        if standardize_features:
            train_items, test_items = standardize(train_items, test_items)
        _WORKER_DATA.clear()  # one sim at a time per process
        _WORKER_DATA[key] = (train_items, test_items, list(names))
    return _WORKER_DATA[key]


def _train_task(
    mode: str,
    seed: int,
    settings: Settings,
    sim_dir: Path,
    out_dir: Path,
    device: str,
    threads: int,
) -> dict[str, Any]:
    """One (mode, seed) training, in this process or a pool worker (``--jobs``)."""
    torch.set_num_threads(threads)
    train_items, test_items, names = load_sim_items(sim_dir, settings.standardize)

    def log(msg: str) -> None:
        print(msg, flush=True)

    run = run_one(
        mode,
        seed,
        settings,
        train_items,
        test_items,
        len(names),
        device,
        log,
        preds_path=out_dir / "preds" / f"{mode}-seed{seed}.json",
        class_names=names,
    )
    run["T"] = settings.T
    return run


def run_benchmark(
    settings: Settings,
    gt: Path,
    clicks: Path,
    out_dir: Path,
    device: str = "cpu",
    command: str = "",
    log: Callable[[str], None] = print,
    jobs: int = 1,
    threads: int = 1,
) -> dict[str, Any]:
    """Every (seed, mode) not yet in ``out_dir/supervision.json``; returns the payload.

    ``jobs`` > 1 trains that many (mode, seed) pairs at once in worker processes with
    ``threads`` torch threads each (on a small CPU, 1-thread processes side by side beat one
    multi-threaded training: the threads spin-wait on each other). Results are identical to
    a sequential run: each training seeds itself.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "supervision.json", out_dir / "supervision.md"
    payload: dict[str, Any] = {"settings": settings.key(), "runs": []}
    if (old := stored_payload(json_path, settings.key(), log)) is not None:
        payload["runs"] = old["runs"]
    payload.update(seeds=list(settings.seeds), modes=list(settings.modes), command=command)
    payload["device"] = device
    total = len(settings.seeds) * len(settings.modes)
    started = time.perf_counter()
    tasks: list[tuple[str, int, Path]] = []
    for seed in settings.seeds:
        todo = [
            m
            for m in sorted(settings.modes, key=RUN_ORDER.index)
            if not any(r["mode"] == m and r["seed"] == seed for r in payload["runs"])
        ]
        if todo:
            sim_dir = ensure_sim(settings, gt, clicks, seed, out_dir, log)
            tasks.extend((mode, seed, sim_dir) for mode in todo)

    def finished(run: dict[str, Any]) -> None:
        sim_dir = out_dir / f"sim-seed{run['seed']}"
        preds = out_dir / "preds" / f"{run['mode']}-seed{run['seed']}.json"
        if preds.exists() and (sim_dir / "gt.json").exists():
            run["fp_analysis"] = fp_summary(sim_dir / "gt.json", preds)
        payload["runs"].append(run)
        t = run["test"]
        log(
            f"[{len(payload['runs'])}/{total}] seed {run['seed']} {run['mode']}: mAP@0.5 "
            f"{100 * t['mAP']['0.5']:.1f} avg0.1:0.7 {100 * t['avg_0.1_0.7']:.1f} best epoch "
            f"{run['best_epoch']} ({run['total_s']:.0f} s; elapsed "
            f"{(time.perf_counter() - started) / 60:.1f} min)"
        )
        _write_json(json_path, payload)
        md_path.write_text(render(payload))

    if jobs <= 1:
        for mode, seed, sim_dir in tasks:
            log(f"seed {seed} {mode}: training")
            finished(_train_task(mode, seed, settings, sim_dir, out_dir, device, threads))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = [
                pool.submit(_train_task, mode, seed, settings, sim_dir, out_dir, device, threads)
                for mode, seed, sim_dir in tasks
            ]
            log(f"{len(futures)} trainings on {jobs} worker processes")
            for future in as_completed(futures):
                finished(future.result())
    payload["runs"].sort(key=lambda r: (r["seed"], RUN_ORDER.index(r["mode"])))
    _write_json(json_path, payload)
    md_path.write_text(render(payload))
    for path in [*plot_results(payload, out_dir), plot_fp(payload, out_dir)]:
        if path is not None:
            log(f"wrote {path}")
    return payload


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gt", type=Path, default=DEFAULT_GT)
    p.add_argument(
        "--clicks",
        type=Path,
        default=DEFAULT_CLICKS,
        help="background click CSV, COIN layout (any annotator)",
    )
    p.add_argument("--out-dir", type=Path, default=ROOT / "data" / "bench" / "supervision")
    p.add_argument("--quick", action="store_true", help="1 seed, first 60 videos of each split")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2")
    p.add_argument("--modes", nargs="+", choices=ALL_MODES, default=list(ALL_MODES))
    p.add_argument("--feature-dim", type=int, default=256, help="sim D (published I3D: 2048)")
    p.add_argument("--T", type=int, default=375, help="snippets per video (official: 750)")
    p.add_argument("--limit", type=int, default=None, help="first N videos of each split")
    p.add_argument("--hidden", type=int, default=128, help="base-module width (paper: 2048)")
    p.add_argument(
        "--aux-hidden", type=int, default=128, help="filter and embedding hidden width (paper: 512)"
    )
    p.add_argument(
        "--filter-norm",
        choices=FILTER_NORMS,
        default="none",
        help="'none' = the published filter (default); 'topk' = top-k normalised weights, "
        "which avoid the collapse of short trainings (docs/benchmarks.md)",
    )
    p.add_argument(
        "--no-standardize",
        dest="standardize",
        action="store_false",
        help="feed the raw sim features (default: z-score with training-split statistics)",
    )
    p.add_argument(
        "--input-norm",
        choices=INPUT_NORMS,
        default="none",
        help="'standardize': the network z-scores raw features with training statistics "
        "(the dead-start study; use with --no-standardize)",
    )
    p.add_argument(
        "--lr-scaling",
        choices=LR_SCALINGS,
        default="none",
        help="'width': per-layer Adam lr x (published fan-in / fan-in), 1 at published widths",
    )
    p.add_argument(
        "--init-scaling",
        choices=INIT_SCALINGS,
        default="none",
        help="'width': the classifier's initial weights x sqrt(published width / width), 1 at "
        "published widths (the dead-start study)",
    )
    p.add_argument(
        "--click-rampup-epochs",
        type=int,
        default=0,
        metavar="N",
        help="click cross-entropy weight x min(1, (epoch - 1) / N); 0 (default): published",
    )
    p.add_argument("--epochs", type=int, default=None, help="default 40 (published), --quick 10")
    p.add_argument("--batch-size", type=int, default=8, help="published: 16")
    p.add_argument("--lr", type=float, default=1e-3, help="published: 1e-4 (40 epochs)")
    p.add_argument("--holdout", type=float, default=0.1)
    p.add_argument(
        "--zero-loss",
        dest="zero_losses",
        action="append",
        default=[],
        choices=LOSS_TERMS,
        help="ablation: set this BackTAL loss weight to 0 (repeatable)",
    )
    p.add_argument(
        "--sim-param",
        dest="sim_params",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a model.sim.SimParams field (repeatable), e.g. app_class_norm=3 "
        "mot_class_norm=3 camera_norm=3 for the first sim version",
    )
    p.add_argument(
        "--sim-version",
        type=int,
        choices=(2, 3),
        default=3,
        help="3 (default): the SimParams defaults; 2: the same without look-alike background "
        "(lookalike_rate_per_min=0, docs/sim.md)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--jobs", type=int, default=1, help="trainings at once, in worker processes (CPU: 2)"
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads per training")
    p.add_argument(
        "--render-only",
        action="store_true",
        help="recompute the analyses of OUT from its saved predictions; train nothing",
    )
    return p


def parse_sim_params(pairs: Sequence[str]) -> tuple[tuple[str, float], ...]:
    """``NAME=VALUE`` strings -> sorted (name, number) pairs, checked against SimParams."""
    from dataclasses import fields

    from model import sim

    known = {f.name for f in fields(sim.SimParams)} - {"feature_dim", "T"}
    out: dict[str, float] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or name not in known:
            raise SystemExit(
                f"--sim-param {pair!r}: expected NAME=VALUE with NAME one of "
                f"{', '.join(sorted(known))} (use --feature-dim / --T for those two)"
            )
        try:
            number = float(value)
        except ValueError:
            raise SystemExit(f"--sim-param {pair!r}: {value!r} is not a number") from None
        out[name] = int(number) if name == "subsamples" else number
    return tuple(sorted(out.items()))


def fixed_arms_parser(doc: str, out_name: str) -> argparse.ArgumentParser:
    """This script's options for a benchmark whose arms are its own: ``--modes`` hidden (see
    ``check_no_modes``), the output under data/bench/``out_name``, the doc's first line."""
    p = build_parser()
    p.description = doc.split("\n")[0]
    for action in p._actions:
        if action.dest == "modes":
            action.help = argparse.SUPPRESS
    p.set_defaults(out_dir=Path(__file__).resolve().parents[1] / "data" / "bench" / out_name)
    return p


def check_no_modes(args: argparse.Namespace, why: str) -> None:
    """Refuse ``--modes`` in a benchmark whose arms are fixed (``why`` says what they are)."""
    if list(args.modes) != list(ALL_MODES):
        raise SystemExit(f"--modes does not apply here: {why}")


def settings_from_args(args: argparse.Namespace, seeds: Sequence[int] | None = None) -> Settings:
    """The benchmark settings from parsed options (``seeds`` overrides ``--seeds``)."""
    seeds = seeds or args.seeds or ([0] if args.quick else [0, 1, 2])
    limit = args.limit if args.limit is not None else (60 if args.quick else None)
    epochs = args.epochs or (10 if args.quick else 40)
    return Settings(
        seeds=tuple(seeds),
        modes=tuple(args.modes),
        feature_dim=args.feature_dim,
        T=args.T,
        limit=limit,
        hidden=args.hidden,
        aux_hidden=args.aux_hidden,
        filter_norm=args.filter_norm,
        standardize=args.standardize,
        epochs=epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        holdout=args.holdout,
        gt_sha=_sha256(args.gt),
        clicks_sha=_sha256(args.clicks),
        zero_losses=tuple(args.zero_losses),
        sim_overrides=parse_sim_params(
            (["lookalike_rate_per_min=0"] if args.sim_version == 2 else []) + args.sim_params
        ),
        input_norm=args.input_norm,
        lr_scaling=args.lr_scaling,
        init_scaling=args.init_scaling,
        click_rampup_epochs=args.click_rampup_epochs,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.render_only:
        print(render(reanalyze(args.out_dir)))
        return 0
    settings = settings_from_args(args)
    command = command_line("supervision.py", argv)

    def log(msg: str) -> None:
        print(msg, flush=True)

    log(f"settings: {settings}")
    payload = run_benchmark(
        settings,
        args.gt,
        args.clicks,
        args.out_dir,
        args.device,
        command.strip(),
        log,
        jobs=args.jobs,
        threads=args.threads,
    )
    print(render(payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
