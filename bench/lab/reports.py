"""Evaluation reports of the benchmarks: mean ± std over seeds, paired per-seed margins, the
plateau exit of a training curve, and DETAD false-positive summaries (``model.analysis``) —
as markdown tables. Pure functions of stored results (nothing is trained here)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.lab.settings import ALL_MODES, UPPER
from bench.lab.training import TIOUS
from model.config import SUPERVISION_MODES

CHANCE = math.log(21)  # suppressed-branch video CE of a uniform 21-way prediction


def mean_std(values: Sequence[float] | np.ndarray) -> str:
    """100 × the values as "mean ± std" (ddof 1), or the one value."""
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
        cells = [mean_std(cols[:, j]) for j in range(cols.shape[1])]
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
            f"| {a} − {b} | {','.join(map(str, seeds))} | {mean_std(d05)} | {mean_std(davg)}"
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
        cells = [mean_std([a["share_of_fp"][t] for a in at]) for t in FP_TYPES]
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
