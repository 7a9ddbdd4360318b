"""THUMOS14-sim: which suggestion rule's clicks train the best localizer on held-out training
videos? One guided round of 755 clicks per candidate rule, chosen on held-out videos, then
reported on the test split.

    python -m bench.suggest_rules --quick     # 1 seed, 60 + 60 videos, 10 epochs
    python -m bench.suggest_rules --jobs 2    # 3 seeds, 200 + 210 videos, 40 epochs, studio
    python -m bench.suggest_rules --legacy-recipe --jobs 2   # the run of docs/research/guided.md

The benchmark is ``bench.lab.suggest_rules``. Output: ``OUT/suggest_rules.json``
(resumable), ``OUT/suggest_rules.md``; default OUT = data/bench/suggest_rules.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace

from bench.lab import suggest_rules
from bench.lab.resume import minute_log
from bench.lab.settings import (
    add_recipe_options,
    check_no_modes,
    command_line,
    fixed_arms_parser,
    settings_from_args,
)


def build_parser() -> argparse.ArgumentParser:
    p = fixed_arms_parser(__doc__.split("\n")[0], "suggest_rules")
    p.prog = "python -m bench.suggest_rules"
    add_recipe_options(p)
    p.add_argument("--k", type=int, default=16, help="suggestions per video at most")
    p.add_argument("--error-rate", type=float, default=None, help="default: A1's measured")
    p.add_argument(
        "--rules",
        nargs="+",
        choices=tuple(suggest_rules.RULES),
        default=None,
        help="the candidate rules ('default' among them; default: every rule, with "
        f"--legacy-recipe the documented {' '.join(suggest_rules.LEGACY_RULES)})",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_no_modes(args, "the arms are fixed")
    settings = replace(settings_from_args(args), modes=("weak", "bg-click"))
    suggest_rules.run_benchmark(
        settings,
        args.gt,
        args.clicks,
        args.out_dir,
        k=args.k,
        error_rate=args.error_rate,
        device=args.device,
        command=command_line("bench.suggest_rules", argv),
        log=minute_log(),
        jobs=args.jobs,
        threads=args.threads,
        rules=args.rules,
    )
    print((args.out_dir / "suggest_rules.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
