"""THUMOS14-sim supervision benchmark: weak vs action clicks vs background clicks vs both,
plus a fully supervised snippet classifier (upper bound), over several seeds.

    python -m bench.supervision --quick        # 1 seed, 60 + 60 videos, 10 epochs
    python -m bench.supervision --jobs 2       # 3 seeds, all 200 + 210 videos, 40 epochs
    python -m bench.supervision --device cuda --feature-dim 2048 --T 750 --hidden 2048 \\
        --aux-hidden 512 --batch-size 16 --lr 1e-4 --epochs 40 --filter-norm none \\
        --no-standardize                       # the published network and recipe, on a GPU
    python -m bench.supervision --render-only --out-dir DIR   # re-analyse DIR, train nothing

The benchmark itself is ``bench.lab.supervision``; the report with its results is
docs/research/supervision.md. CPU defaults: sim v3, D = 2x128, T = 375, widths 128, 40 epochs,
batch 8, lr 1e-3, z-scored features, the published foreground filter. ``--clicks`` takes any
click CSV in the COIN layout (e.g. a second annotator's).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bench.lab import supervision
from bench.lab.resume import print_log
from bench.lab.settings import build_parser as shared_parser
from bench.lab.settings import command_line, settings_from_args


def build_parser() -> argparse.ArgumentParser:
    p = shared_parser(__doc__.split("\n")[0], "supervision")
    p.prog = "python -m bench.supervision"
    p.add_argument(
        "--render-only",
        action="store_true",
        help="recompute the analyses of OUT from its saved predictions; train nothing",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.render_only:
        print(supervision.render(supervision.reanalyze(args.out_dir)))
        return 0
    settings = settings_from_args(args)
    print_log(f"settings: {settings}")
    payload = supervision.run_benchmark(
        settings,
        args.gt,
        args.clicks,
        args.out_dir,
        args.device,
        command_line("bench.supervision", argv),
        print_log,
        jobs=args.jobs,
        threads=args.threads,
    )
    print(supervision.render(payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
