"""Study (finished) — plot the dead-start study: per-epoch training video_supp (and held-out
mAP) of every mode, published recipe vs the fix, from ``python -m bench.supervision`` result
folders.

Produced the figures of docs/research/supervision.md, "The dead start"
(docs/img/deadstart-curves.png) and "Second step" (docs/img/deadstart-fix2-curves.png):

    python -m bench.studies.plot_deadstart data/bench/deadstart-before data/bench/deadstart-after \
        --out docs/img/deadstart-curves.png
    python -m bench.studies.plot_deadstart data/bench/deadstart-fix2 --labels "fix 2" \
        --title "..." --out docs/img/deadstart-fix2-curves.png

Two folders without ``--labels`` are "published" (dashed) and "fix" (solid). Also prints the
plateau-exit epoch of every run (``bench.lab.reports.plateau_exit``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.lab.plots import draw_curves
from bench.lab.reports import CHANCE, PLATEAU_LEVEL, plateau_exit
from bench.lab.settings import RUN_ORDER, UPPER
from model.config import SUPERVISION_MODES


def exit_text(curve: list[dict]) -> str:
    """The plateau-exit epoch of a curve, or "> N" when it never leaves the plateau."""
    epoch = plateau_exit(curve)
    return str(epoch) if epoch is not None else f"> {len(curve)}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.studies.plot_deadstart", description=__doc__.split("\n")[0]
    )
    p.add_argument("folders", type=Path, nargs="+", help="result folders (at most 3)")
    p.add_argument("--labels", nargs="+", help="one per folder (default for two: published fix)")
    p.add_argument(
        "--title",
        default="published recipe (dashed) vs standardized input + width-scaled lr (solid)",
    )
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    labels = args.labels or (["published", "fix"] if len(args.folders) == 2 else None)
    if labels is None or len(labels) != len(args.folders) or len(labels) > 3:
        p.error("give one --labels entry per folder (at most 3 folders)")
    styles = ("--", "-", ":") if len(labels) > 1 else ("-",)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = dict(zip(SUPERVISION_MODES, ("C0", "C1", "C2", "C3"), strict=True))
    for folder, style, name in zip(args.folders, styles, labels, strict=False):
        runs = json.loads((folder / "supervision.json").read_text())["runs"]
        draw_curves(ax1, ax2, runs, colors, linestyle=style, suffix=f" ({name})")
        for r in sorted(runs, key=lambda r: (r["seed"], RUN_ORDER.index(r["mode"]))):
            if r["mode"] != UPPER:
                print(
                    f"{name:9s} seed {r['seed']} {r['mode']:12s} plateau exit "
                    f"{exit_text(r['curve'])}"
                )
    ax1.axhline(CHANCE, color="grey", lw=1, ls=":")
    ax1.axhline(PLATEAU_LEVEL * CHANCE, color="grey", lw=1, ls="-.")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training video_supp (chance ln 21 dotted, exit level dash-dot)")
    ax1.set_title("suppressed-branch video loss")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("held-out mAP 0.1:0.7 (%)")
    ax2.set_title("held-out training videos")
    for a in (ax1, ax2):
        a.grid(alpha=0.3)
    ax2.legend(fontsize=7, ncol=2)
    fig.suptitle(args.title)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
