"""Click losses on THUMOS14-sim: which background-click loss teaches *where* (issue 21).

Design (docs/benchmarks.md, "Click losses"): for each sim version (v3, v2) and seed s, sim
seed s, training seed s (+ an offset for the noise-floor arms), the studio recipe
(``model.recipes``, the same object Retrain and ``model.cli train`` use) at the CPU widths.
The 200 training videos are split once into 5 fixed folds; seed s holds out fold s mod 5 (40
videos): the epoch is chosen on it and the arm is *scored* on it — pooled over the 5 seeds,
every training video is held out exactly once per sim version. The test split (210 videos)
is scored after the choice is written down (``--phase test``).

An arm is ``MODE[:CLICK_LOSS][+refine][@OFFSET]``: ``bg-click:filter``, ``weak``,
``bg-click:published@1000`` (the same clicks and folds, training seed s + 1000: the noise
floor), ``bg-click:filter+refine`` (the second stage, ``model.refine``, on that arm's first
stage).

    python -m bench.click_losses --arms weak bg-click:published bg-click:published@1000 \\
        --sim-versions 3 --seeds 0 1 2 --jobs 2            # noise floor
    python -m bench.click_losses --render-only --phase heldout   # tables without test numbers
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.lab.click_losses import (  # noqa: F401  (the names tests and studies use)
    DEFAULT_CLICKS,
    DEFAULT_GT,
    FOLD_SEED,
    FOLDS,
    ROOT,
    Arm,
    Settings,
    fold_of,
    load_gt,
    load_preds,
    run_benchmark,
    run_id,
    train_task,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.click_losses", description=__doc__.split("\n")[0]
    )
    p.add_argument("--arms", nargs="+", default=["weak", "bg-click:published"])
    p.add_argument("--sim-versions", type=int, nargs="+", choices=(2, 3), default=[3, 2])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--gt", type=Path, default=DEFAULT_GT)
    p.add_argument("--clicks", type=Path, default=DEFAULT_CLICKS)
    p.add_argument("--out-dir", type=Path, default=ROOT / "data" / "bench" / "click-losses")
    p.add_argument("--recipe", default="studio")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--limit", type=int, default=None, help="first N videos of each split")
    p.add_argument("--T", type=int, default=375)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--render-only", action="store_true")
    p.add_argument(
        "--also",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="render the runs of these folders too (e.g. one folder per sim version)",
    )
    p.add_argument(
        "--phase",
        choices=("heldout", "test"),
        default="heldout",
        help="what the report shows: held-out folds only (default), or the test split too",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from bench.lab.resume import minute_log
    from bench.lab.sims import file_sha256
    from model import recipes

    args = build_parser().parse_args(argv)
    log = minute_log()
    settings = Settings(
        recipe=args.recipe,
        T=args.T,
        hidden=args.hidden,
        aux_hidden=args.hidden,
        epochs=args.epochs,
        overrides=tuple(sorted(recipes.parse_sets(args.sets).items())),
        limit=args.limit,
        gt_sha=file_sha256(args.gt),
        clicks_sha=file_sha256(args.clicks),
    )
    if not args.render_only:
        run_benchmark(
            settings,
            args.arms,
            args.sim_versions,
            args.seeds,
            args.gt,
            args.clicks,
            args.out_dir,
            args.jobs,
            log,
        )
    from bench import click_losses_report as report

    text = report.render([args.out_dir, *args.also], args.phase)
    (args.out_dir / f"report-{args.phase}.md").write_text(text)
    log(f"wrote {args.out_dir / f'report-{args.phase}.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
