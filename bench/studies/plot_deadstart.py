"""Plot the dead-start study: per-epoch training video_supp (and held-out mAP) of every mode,
published recipe vs the fix, from ``bench/supervision.py`` result folders.

    python bench/plot_deadstart.py data/bench/deadstart-before data/bench/deadstart-after \
        --out docs/img/deadstart-curves.png
    python bench/plot_deadstart.py data/bench/deadstart-fix2 --labels "fix 2" \
        --title "..." --out docs/img/deadstart-fix2-curves.png

Two folders without ``--labels`` are "published" (dashed) and "fix" (solid).

Also prints the plateau-exit epoch of every run (``supervision.plateau_exit``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import supervision as sup


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
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
    colors = dict(zip(sup.SUPERVISION_MODES, ("C0", "C1", "C2", "C3"), strict=True))
    for folder, style, name in zip(args.folders, styles, labels, strict=False):
        runs = json.loads((folder / "supervision.json").read_text())["runs"]
        sup.draw_curves(ax1, ax2, runs, colors, linestyle=style, suffix=f" ({name})")
        for r in sorted(runs, key=lambda r: (r["seed"], sup.RUN_ORDER.index(r["mode"]))):
            if r["mode"] != sup.UPPER:
                print(
                    f"{name:9s} seed {r['seed']} {r['mode']:12s} plateau exit "
                    f"{sup._exit_text(r['curve'])}"
                )
    ax1.axhline(sup.CHANCE, color="grey", lw=1, ls=":")
    ax1.axhline(sup.PLATEAU_LEVEL * sup.CHANCE, color="grey", lw=1, ls="-.")
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
