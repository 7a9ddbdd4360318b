"""THUMOS14-sim click-QA benchmark: which model and which signal find annotator A1's clicks
that lie inside GT actions, with a rule chosen on one half of the training videos and
reported on the other?

    python -m bench.click_qa --quick     # 1 seed, 60 + 60 videos, 10 epochs
    python -m bench.click_qa --jobs 2    # 3 seeds, 200 + 210 videos, 40 epochs
    python -m bench.click_qa --T 750 --arms upper-xfit   # the ceiling alone at the official T

The benchmark is ``bench.lab.click_qa`` (sources, signals, folds and the rule choice in its
docstring; plan and results in docs/research/guided.md, "Click QA, second attempt"). Output:
``OUT/click_qa.json`` (resumable; every click's signals per source), ``OUT/click_qa.md``,
``OUT/click_qa.png``; default OUT = data/bench/click_qa.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace

from bench.lab import click_qa
from bench.lab.resume import minute_log
from bench.lab.settings import check_no_modes, command_line, fixed_arms_parser, settings_from_args
from model.train import resolve_device


def build_parser() -> argparse.ArgumentParser:
    p = fixed_arms_parser(__doc__.split("\n")[0], "click_qa")
    p.prog = "python -m bench.click_qa"
    p.add_argument(
        "--arms",
        nargs="+",
        choices=(*click_qa.SOURCES, click_qa.A1_QA),
        default=None,
        help="train only these (default: every source, then a1-qa once the rule is chosen)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_no_modes(args, "the sources are fixed")
    settings = replace(settings_from_args(args), modes=("weak", "bg-click"))
    resolve_device(args.device)
    click_qa.run_benchmark(
        settings,
        args.gt,
        args.clicks,
        args.out_dir,
        device=args.device,
        command=command_line("bench.click_qa", argv),
        log=minute_log(),
        jobs=args.jobs,
        threads=args.threads,
        arms=args.arms,
    )
    print((args.out_dir / "click_qa.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
