"""Plots of the supervision benchmark (PNG, matplotlib's Agg backend): mAP per tIoU, the
per-epoch training curves against the plateau level, and the DETAD false-positive
breakdown. Each returns the written paths (nothing without matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.lab.reports import CHANCE, FP_TYPES, PLATEAU_LEVEL
from bench.lab.settings import ALL_MODES, RUN_ORDER, UPPER
from bench.lab.training import TIOUS


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
