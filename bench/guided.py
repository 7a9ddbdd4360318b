"""THUMOS14-sim guided-annotation benchmark: do suggested background clicks buy more test mAP
per click than the human's clicks, or than random background moments? And does click QA find
the human's wrong clicks?

    python -m bench.guided --quick      # 1 seed, 60 + 60 videos, 10 epochs, 2 rounds
    python -m bench.guided --jobs 2     # 3 seeds, 200 + 210 videos, 40 epochs, 4 rounds (studio)
    python -m bench.guided --jobs 2 --click-loss no-click-ce   # another click loss
    python -m bench.guided --legacy-recipe --jobs 2 --baseline-rounds 2 4 --qa-weak
                                        # the run of docs/research/guided.md

The benchmark is ``bench.lab.guided`` (design in its docstring and in
docs/research/guided.md); results in ``OUT/guided.json`` (resumable, keyed by the settings),
``OUT/guided.md`` and ``OUT/guided.png`` (default OUT = data/bench/guided).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bench.lab import guided, guided_report
from bench.lab.resume import print_log
from bench.lab.settings import add_recipe_options, command_line
from bench.lab.settings import build_parser as shared_parser


def build_parser() -> argparse.ArgumentParser:
    """The shared benchmark options (same defaults) plus the guided loop's and the recipe's."""
    p = shared_parser(__doc__.split("\n")[0], "guided")
    p.prog = "python -m bench.guided"
    for action in p._actions:
        if action.dest == "modes":  # the arms are fixed here
            action.help = argparse.SUPPRESS
        if action.dest == "quick":
            action.help = "1 seed, first 60 videos of each split, 10 epochs, 2 rounds"
    add_recipe_options(p)
    p.add_argument(
        "--schedule",
        type=float,
        nargs="+",
        default=None,
        help="cumulative click targets per round as fractions of A1's click count "
        "(default 1/6 1/3 2/3 1 = 377 755 1509 2264 on the full split; --quick 1/3 1)",
    )
    p.add_argument(
        "--k",
        type=int,
        default=16,
        help="suggestions answered at most per video per round (the click target stops a round "
        "earlier; passes count as answers)",
    )
    p.add_argument(
        "--error-rate",
        type=float,
        default=None,
        help="the simulated annotator's share of clicks inside actions (default: A1's measured)",
    )
    p.add_argument(
        "--lookalike-rate",
        type=float,
        default=None,
        help="sim v3 look-alike segments per minute (default: the SimParams default)",
    )
    p.add_argument(
        "--baseline-rounds",
        type=int,
        nargs="+",
        default=None,
        help="train the a1-subset and random-bg baselines only at these rounds' click counts "
        "(1-based; default: every round). E.g. 2 4 = at 755 and 2264 clicks",
    )
    p.add_argument(
        "--qa-weak",
        action="store_true",
        help="also check A1's clicks with the weak model (which saw no click) and retrain "
        "without the clicks it flags (arms weak-qa, a1-qa-weak)",
    )
    p.add_argument("--qa-min-score", type=float, default=0.5)
    p.add_argument("--qa-margin", type=float, default=0.2, help="seconds")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings, options = guided.options_from_args(args)
    print_log(f"settings: {settings}\nguided: {options}")
    payload = guided.run_benchmark(
        settings,
        options,
        args.gt,
        args.clicks,
        args.out_dir,
        args.device,
        command_line("bench.guided", argv),
        print_log,
        jobs=args.jobs,
        threads=args.threads,
        baseline_rounds=args.baseline_rounds,
        qa_weak=args.qa_weak,
    )
    print(guided_report.render(payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
