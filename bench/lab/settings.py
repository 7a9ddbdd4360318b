"""Run settings of the THUMOS14-sim benchmarks: what identifies a run's results, the shared
command-line options, and the training recipe a benchmark runs under.

:class:`Settings` holds everything that changes the numbers; its :meth:`Settings.key` is
stored with the results, and a rerun resumes only results stored under an equal key (the
resolved sim parameters are part of it, so a changed ``SimParams`` default invalidates old
results). Keys of results stored before an option existed stay valid: an option at its old
behaviour is left out of the key.

Two kinds of training recipe:

* **legacy** (``Settings.recipe == ""``): the benchmark recipe of the first rounds — CPU widths,
  Adam lr 1e-3, batch 8, features z-scored per dimension by the benchmark with the training
  split's statistics, the published filter and loss schedule (each one option away:
  ``--lr``, ``--batch-size``, ``--no-standardize``, ``--filter-norm``, ``--input-norm``,
  ``--lr-scaling``, ``--init-scaling``, ``--click-rampup-epochs``, ``--zero-loss``). Every
  table of docs/research/supervision.md and guided.md was made with it.
* **named** (``Settings.recipe`` = a :mod:`model.recipes` name, e.g. ``studio``): the recipe
  Retrain and ``model.cli train`` run, at the benchmark's widths, epochs and held-out
  fraction, with ``--click-loss`` / ``--set KEY=VALUE`` on top (as ``bench.click_losses``
  builds its configs). Raw features go in (the studio network standardizes them itself).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from model.config import (
    CLICK_LOSSES,
    FILTER_NORMS,
    INIT_SCALINGS,
    INPUT_NORMS,
    LR_SCALINGS,
    SUPERVISION_MODES,
)

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "data" / "bench"
DEFAULT_GT = ROOT.parent / "shared" / "thumos14" / "gt_thumos14.json"
DEFAULT_CLICKS = ROOT.parent / "shared" / "thumos14" / "THUMOS14_Background-Click-Annotation_A1.txt"

UPPER = "upper-bound"
ALL_MODES = (*SUPERVISION_MODES, UPPER)
# bg-click first, so that its loss curve (the soundness check) is the first thing a run shows
RUN_ORDER = ("bg-click", "action-click", "weak", "both", UPPER)
LOSS_TERMS = ("video_base", "video_supp", "fg_norm", "click", "separation", "embedding")

# The legacy recipe's options (argparse dest -> default). Their argparse default is None, so
# that a named recipe can refuse them when given at all (even at these values).
LEGACY_OPTIONS: dict[str, Any] = {
    "filter_norm": "none",
    "standardize": True,
    "input_norm": "none",
    "lr_scaling": "none",
    "init_scaling": "none",
    "click_rampup_epochs": 0,
    "batch_size": 8,
    "lr": 1e-3,
    "zero_losses": [],
}
_LEGACY_FIELDS = (
    "filter_norm",
    "standardize",
    "batch_size",
    "lr",
    "zero_losses",
    "input_norm",
    "lr_scaling",
    "init_scaling",
    "click_rampup_epochs",
)


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
    # "" = the legacy recipe (the fields above); else a model.recipes name, whose trainings
    # ignore filter_norm .. click_rampup_epochs and zero_losses (left out of the key)
    recipe: str = ""
    recipe_overrides: tuple[tuple[str, Any], ...] = ()  # --click-loss / --set on top of it

    def sim_params(self) -> Any:
        from model import sim

        overrides: dict[str, Any] = dict(self.sim_overrides)
        return sim.SimParams(feature_dim=self.feature_dim, T=self.T, **overrides)

    def recipe_options(self, mode: str, seed: int, device: str) -> dict[str, Any]:
        """The overrides a named recipe trains ``mode`` (a supervision mode) with: the
        benchmark's widths, epochs, held-out fraction, seed and device, then ``--set``."""
        return {
            "hidden": self.hidden,
            "embed_hidden": self.aux_hidden,
            "filter_hidden": self.aux_hidden,
            "epochs": self.epochs,
            "holdout_fraction": self.holdout,
            "supervision": mode,
            "seed": seed,
            "device": device,
            **dict(self.recipe_overrides),
        }

    def key(self) -> dict[str, Any]:
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
        del out["recipe"], out["recipe_overrides"]
        if self.recipe:
            for name in _LEGACY_FIELDS:
                out.pop(name, None)
            out["recipe"] = self.recipe
            out["recipe_overrides"] = json.loads(json.dumps(list(self.recipe_overrides)))
            out["recipe_resolved"] = self.resolved_recipe()
        # the resolved sim parameters: a changed SimParams default invalidates old results
        out["sim_params"] = asdict(self.sim_params())
        return out

    def resolved_recipe(self) -> dict[str, Any]:
        """The named recipe's configs as they resolve today (seed, mode and device aside): a
        changed recipe definition invalidates results stored under the same name."""
        from model import recipes

        model_config, train_config = recipes.resolve(
            self.recipe,
            feature_dim=self.feature_dim,
            num_classes=1,
            overrides=self.recipe_options("bg-click", 0, "cpu"),
        )
        train = train_config.to_dict()
        for name in ("seed", "supervision", "device"):
            del train[name]
        model = model_config.to_dict()
        del model["num_classes"]
        plain: dict[str, Any] = json.loads(json.dumps({"model": model, "train": train}))
        return plain


# ----------------------------------------------------------------------------- options
def build_parser(description: str, out_name: str) -> argparse.ArgumentParser:
    """The THUMOS14-sim benchmarks' shared options (``--gt``, ``--clicks``, the sim, widths,
    epochs, the legacy recipe, ``--jobs``, ...); the output defaults to data/bench/``out_name``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--gt", type=Path, default=DEFAULT_GT)
    p.add_argument(
        "--clicks",
        type=Path,
        default=DEFAULT_CLICKS,
        help="background click CSV, COIN layout (any annotator)",
    )
    p.add_argument("--out-dir", type=Path, default=DATA_DIR / out_name)
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
        default=None,
        help="legacy recipe: 'none' = the published filter (default); 'topk' = top-k "
        "normalised weights, which avoid the collapse of short trainings "
        "(docs/research/supervision.md)",
    )
    p.add_argument(
        "--no-standardize",
        dest="standardize",
        action="store_false",
        default=None,
        help="legacy recipe: feed the raw sim features (default: z-score with training-split "
        "statistics)",
    )
    p.add_argument(
        "--input-norm",
        choices=INPUT_NORMS,
        default=None,
        help="legacy recipe: 'standardize' (default 'none'): the network z-scores raw "
        "features with training statistics (the dead-start study; use with --no-standardize)",
    )
    p.add_argument(
        "--lr-scaling",
        choices=LR_SCALINGS,
        default=None,
        help="legacy recipe: 'width' (default 'none'): per-layer Adam lr x (published fan-in / "
        "fan-in), 1 at published widths",
    )
    p.add_argument(
        "--init-scaling",
        choices=INIT_SCALINGS,
        default=None,
        help="legacy recipe: 'width' (default 'none'): the classifier's initial weights x "
        "sqrt(published width / width), 1 at published widths (the dead-start study)",
    )
    p.add_argument(
        "--click-rampup-epochs",
        type=int,
        default=None,
        metavar="N",
        help="legacy recipe: click cross-entropy weight x min(1, (epoch - 1) / N); 0 "
        "(default): published",
    )
    p.add_argument("--epochs", type=int, default=None, help="default 40 (published), --quick 10")
    p.add_argument(
        "--batch-size", type=int, default=None, help="legacy recipe: default 8 (published: 16)"
    )
    p.add_argument(
        "--lr", type=float, default=None, help="legacy recipe: default 1e-3 (published: 1e-4)"
    )
    p.add_argument("--holdout", type=float, default=0.1)
    p.add_argument(
        "--zero-loss",
        dest="zero_losses",
        action="append",
        default=None,
        choices=LOSS_TERMS,
        help="legacy recipe, ablation: set this BackTAL loss weight to 0 (repeatable)",
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
    return p


def add_recipe_options(p: argparse.ArgumentParser, default: str = "studio") -> None:
    """``--recipe`` (default ``default``), ``--click-loss``, ``--set KEY=VALUE`` and
    ``--legacy-recipe`` (the recipe every earlier table of this benchmark was made with)."""
    from model import recipes

    group = p.add_argument_group(
        "training recipe",
        "a model.recipes recipe (as Retrain runs it) at the benchmark's widths (--hidden, "
        "--aux-hidden), --epochs and --holdout; or --legacy-recipe",
    )
    which = group.add_mutually_exclusive_group()
    which.add_argument("--recipe", choices=recipes.RECIPE_NAMES, default=default)
    which.add_argument(
        "--legacy-recipe",
        action="store_true",
        help="the benchmark's earlier recipe (lr 1e-3, batch 8, features z-scored by the "
        "benchmark, published filter and loss schedule; --lr, --batch-size, --no-standardize, "
        "--filter-norm, --input-norm, --lr-scaling, --init-scaling, --click-rampup-epochs and "
        "--zero-loss apply to it): the recipe of the numbers in docs/research/guided.md",
    )
    group.add_argument(
        "--click-loss",
        choices=CLICK_LOSSES,
        default=None,
        help="which terms background clicks train (TrainConfig.click_loss; default: the recipe's)",
    )
    group.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any recipe option on top (repeatable), e.g. lr=1e-3 or loss_weights.click=0",
    )


def fixed_arms_parser(description: str, out_name: str) -> argparse.ArgumentParser:
    """The shared options for a benchmark whose arms are its own: ``--modes`` hidden (see
    :func:`check_no_modes`), the output under data/bench/``out_name``."""
    p = build_parser(description, out_name)
    for action in p._actions:
        if action.dest == "modes":
            action.help = argparse.SUPPRESS
    return p


def check_no_modes(args: argparse.Namespace, why: str) -> None:
    """Refuse ``--modes`` in a benchmark whose arms are fixed (``why`` says what they are)."""
    if list(args.modes) != list(ALL_MODES):
        raise SystemExit(f"--modes does not apply here: {why}")


def parse_sim_params(pairs: Sequence[str]) -> tuple[tuple[str, float], ...]:
    """``NAME=VALUE`` strings -> sorted (name, number) pairs, checked against SimParams."""
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


def _option_text(dest: str) -> str:
    return {"standardize": "--no-standardize", "zero_losses": "--zero-loss"}.get(
        dest, "--" + dest.replace("_", "-")
    )


def recipe_from_args(args: argparse.Namespace) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """(recipe name or "" for the legacy recipe, sorted overrides) from the recipe options;
    SystemExit with a sentence for options that do not fit the chosen recipe."""
    if not hasattr(args, "legacy_recipe"):  # a benchmark without recipe options: legacy
        return "", ()
    if args.legacy_recipe:
        if args.click_loss is not None or args.sets:
            raise SystemExit(
                "--click-loss and --set apply to a named recipe (--recipe); the legacy recipe "
                "takes --lr, --batch-size, --zero-loss, ..."
            )
        return "", ()
    for dest in LEGACY_OPTIONS:
        if getattr(args, dest) is not None:
            raise SystemExit(
                f"{_option_text(dest)} belongs to the legacy recipe (--legacy-recipe); with "
                f"--recipe {args.recipe} use --set KEY=VALUE (e.g. --set lr=1e-3, --set "
                "loss_weights.click=0)"
            )
    from model import recipes

    try:
        overrides = recipes.parse_sets(args.sets)
        if args.click_loss is not None:
            overrides["click_loss"] = args.click_loss
        recipes.resolve(args.recipe, feature_dim=1, num_classes=1, overrides=overrides)
    except ValueError as exc:
        raise SystemExit(f"--set: {exc}") from None
    return args.recipe, tuple(sorted(overrides.items()))


def settings_from_args(args: argparse.Namespace, seeds: Sequence[int] | None = None) -> Settings:
    """The benchmark settings from parsed options (``seeds`` overrides ``--seeds``)."""
    from bench.lab.sims import file_sha256

    legacy = {
        dest: default if getattr(args, dest) is None else getattr(args, dest)
        for dest, default in LEGACY_OPTIONS.items()
    }
    seeds = seeds or args.seeds or ([0] if args.quick else [0, 1, 2])
    limit = args.limit if args.limit is not None else (60 if args.quick else None)
    epochs = args.epochs or (10 if args.quick else 40)
    settings = Settings(
        seeds=tuple(seeds),
        modes=tuple(args.modes),
        feature_dim=args.feature_dim,
        T=args.T,
        limit=limit,
        hidden=args.hidden,
        aux_hidden=args.aux_hidden,
        filter_norm=legacy["filter_norm"],
        standardize=legacy["standardize"],
        epochs=epochs,
        batch_size=legacy["batch_size"],
        lr=legacy["lr"],
        holdout=args.holdout,
        gt_sha=file_sha256(args.gt),
        clicks_sha=file_sha256(args.clicks),
        zero_losses=tuple(legacy["zero_losses"]),
        sim_overrides=parse_sim_params(
            (["lookalike_rate_per_min=0"] if args.sim_version == 2 else []) + args.sim_params
        ),
        input_norm=legacy["input_norm"],
        lr_scaling=legacy["lr_scaling"],
        init_scaling=legacy["init_scaling"],
        click_rampup_epochs=legacy["click_rampup_epochs"],
    )
    recipe, overrides = recipe_from_args(args)
    if recipe:  # raw features in: the named recipes standardize inside the network
        settings = replace(settings, recipe=recipe, recipe_overrides=overrides, standardize=False)
    return settings


def command_line(module: str, argv: Sequence[str] | None) -> str:
    """How the benchmark was started (stored with its results): ``python -m bench.<module> …``."""
    args = list(argv) if argv is not None else sys.argv[1:]
    return " ".join(["python", "-m", module, *(shlex.quote(a) for a in args)])
