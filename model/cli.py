"""Command line: ``python -m model.cli {train,predict,eval,make-sim} ...``.

    train   --data DIR --supervision MODE --out DIR [--split val --epochs N --hidden N ...]
    predict --ckpt F --data DIR [--split test] --out results.json [--gt GT.json | --classes F]
    eval    --gt GT.json --pred results.json [--subset test] [--json]
    analyze --gt GT.json --pred results.json [--subset test] [--json] [--plot out.png]
            [--tiou 0.5] [--top-k 10]   (false-positive analysis after DETAD, model.analysis)
    make-sim --gt GT.json --clicks CLICKS.txt --out DIR [--seed N]   (model.sim)

``--data`` is a folder in the official npz layout (``DIR/<split>/*.npz``) or a ``.json``
index of ``.npy`` features (see :func:`model.data.load_npy_index`).

``train`` also runs data-parallel: ``torchrun --nproc_per_node=N -m model.cli train ...``
(one process per GPU, or gloo on CPU; rank 0 writes OUT; see docs/distributed.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from model import distributed
from model.config import CLICK_LOSSES, SUPERVISION_MODES
from model.data import load_dataset
from model.evaluate import (
    GroundTruth,
    Predictions,
    compute_map,
    format_map_table,
    gt_class_names,
    label_coverage,
    load_class_list,
    load_gt_json,
    load_results_json,
    write_results_json,
)
from model.train import fit, load_checkpoint, predict, resolve_device, save_checkpoint


# ----------------------------------------------------------------------------- train
def add_train_parser(sub: Any) -> None:
    from model import recipes

    p = sub.add_parser(
        "train",
        help="train BackTAL on a split, write OUT/model.pt",
        description=(
            "Train BackTAL. Every setting starts from a named recipe (--recipe; studio is the "
            "default, published is BackTAL's released THUMOS14 recipe exactly); the options "
            "below and --set / --config override single fields. The checkpoint records the "
            "recipe and every override (OUT/recipe.json, loadable with --config)."
        ),
        epilog="recipes:\n"
        + "\n".join(f"  {r.name:10s} {r.summary}" for r in recipes.RECIPES.values())
        + "\n\n--set keys (ModelConfig / TrainConfig fields, model/config.py):\n  "
        + "\n  ".join(_wrap_keys(recipes.option_names())),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, help="npz root folder or .json npy index")
    p.add_argument("--split", default="val", help="training split (THUMOS14: val)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--recipe",
        choices=recipes.RECIPE_NAMES,
        default=None,
        help="the recipe every setting starts from (default: studio, or --config's)",
    )
    p.add_argument(
        "--config",
        metavar="FILE.json",
        help='{"recipe": NAME, "overrides": {KEY: VALUE}}: e.g. a model version\'s or a '
        "previous run's recipe.json",
    )
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any training option (repeatable), e.g. --set lr=1e-3 "
        "--set loss_weights.click=0 --set post.class_threshold=0.2",
    )
    p.add_argument("--supervision", choices=SUPERVISION_MODES, default=None)
    p.add_argument("--epochs", type=int, default=None, help="recipe: 40")
    p.add_argument("--hidden", type=int, default=None, help="base-module width (recipe: 2048)")
    p.add_argument("--affinity", choices=("paper", "official"), default=None)
    p.add_argument("--batch-size", type=int, default=None, help="recipe: 16")
    p.add_argument("--lr", type=float, default=None, help="recipe: 1e-4")
    p.add_argument(
        "--holdout", type=float, default=None, help="fraction held out to pick the epoch (0.1)"
    )
    p.add_argument("--click-loss", choices=CLICK_LOSSES, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:1 ...")
    p.add_argument("--precision", choices=("fp32", "bf16"), default=None)
    p.set_defaults(handler=run_train)


def _wrap_keys(keys: Sequence[str], width: int = 90) -> list[str]:
    lines, line = [], ""
    for key in keys:
        if line and len(line) + len(key) + 2 > width:
            lines.append(line)
            line = ""
        line += ("" if not line else "  ") + key
    return [*lines, line] if line else lines


# the dedicated options and the config fields they set
_OPTION_FIELDS = {
    "supervision": "supervision",
    "epochs": "epochs",
    "hidden": "hidden",
    "affinity": "affinity",
    "batch_size": "batch_size",
    "lr": "lr",
    "holdout": "holdout_fraction",
    "click_loss": "click_loss",
    "seed": "seed",
    "device": "device",
    "precision": "precision",
}


def train_overrides(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """(recipe, overrides) from --config, then --set, then the dedicated options (later wins)."""
    from model import recipes

    recipe: str | None = None
    overrides: dict[str, Any] = {}
    if args.config:
        recipe, overrides = recipes.load_config_file(args.config)
    overrides |= recipes.parse_sets(args.sets)
    for option, key in _OPTION_FIELDS.items():
        value = getattr(args, option)
        if value is not None:
            overrides[key] = value
    return args.recipe or recipe or "studio", overrides


def run_train(args: argparse.Namespace) -> int:
    joined = distributed.init_from_env(args.device or "auto")  # under torchrun: join the group
    try:
        return _train(args)
    finally:
        if joined:
            distributed.cleanup()


def _train(args: argparse.Namespace) -> int:
    from model import recipes

    main_process = distributed.is_main_process()  # only rank 0 reports and writes OUT
    try:
        recipe, overrides = train_overrides(args)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    items, class_names = load_dataset(args.data, args.split)
    model_config, config = recipes.resolve(
        recipe,
        feature_dim=items[0].features.shape[1],
        num_classes=len(class_names),
        overrides=overrides,
    )
    if main_process:
        print(f"recipe: {recipes.describe(model_config, config)}")
    bar = tqdm(
        total=config.epochs,
        desc=f"train {config.supervision}",
        unit="epoch",
        disable=not main_process,
    )

    def on_progress(info: dict[str, Any]) -> None:
        bar.update(1)
        postfix = {"loss": f"{info['losses']['total']:.3f}"}
        postfix |= {f"val_{k}": f"{v:.3f}" for k, v in info["val"].items()}
        bar.set_postfix(postfix)

    result = fit(config, model_config, items, class_names=class_names, on_progress=on_progress)
    bar.close()
    if not main_process:
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = {
        "best_epoch": result.best_epoch,
        "val": result.best_metrics,
        "selection": result.selection,
    }
    save_checkpoint(out / "model.pt", result.model, model_config, config, class_names, metrics)
    (out / "history.json").write_text(json.dumps(result.history, indent=1))
    record = recipes.recipe_record(model_config, config)
    (out / "recipe.json").write_text(json.dumps(record, indent=1))
    stopped = " (stopped early)" if result.stopped_early else ""
    print(
        f"best epoch {result.best_epoch} of {len(result.history)}{stopped}, "
        f"chosen by {result.selection}"
    )
    print(f"wrote {out / 'model.pt'}")
    return 0


# ----------------------------------------------------------------------------- predict
def add_predict_parser(sub: Any) -> None:
    p = sub.add_parser("predict", help="localize actions, write ActivityNet result JSON")
    p.add_argument("--ckpt", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--out", required=True, help="results .json")
    p.add_argument("--device", default="auto")
    p.add_argument("--nms-plus-one", action="store_true", help="official NMS +1 quirk")
    names = p.add_mutually_exclusive_group()
    names.add_argument(
        "--gt", help="label the segments with this GT file's class list (index order)"
    )
    names.add_argument(
        "--classes", help="label the segments with these names (.json list or .txt, one a line)"
    )
    p.set_defaults(handler=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from model.config import PostConfig, TrainConfig

    device = resolve_device(args.device)
    model, _, class_names, meta = load_checkpoint(args.ckpt, device)
    post = (
        TrainConfig.from_dict(meta["train_config"]).post if meta["train_config"] else PostConfig()
    )
    if args.nms_plus_one:
        post = replace(post, nms_plus_one=True)
    out_names = _output_class_names(class_names, args.gt, args.classes)
    if out_names is None:
        return 2
    items, _ = load_dataset(args.data, args.split)
    preds = {}
    for item in tqdm(items, desc="predict", unit="video"):
        result = predict(model, [item], post, class_names, device)[item.name]
        preds[item.name] = [(s, e, out_names[c], score) for s, e, c, score in result.segments]
    write_results_json(args.out, preds)
    print(f"wrote {sum(map(len, preds.values()))} segments for {len(preds)} videos to {args.out}")
    return 0


def _is_placeholder(names: Sequence[str]) -> bool:
    return list(names) == [f"class_{i}" for i in range(len(names))]


def _output_class_names(
    trained: Sequence[str], gt: str | None, classes: str | None
) -> list[str] | None:
    """The names predict writes: from --gt / --classes when given (same count as the model's
    classes, index order), else the checkpoint's. None (after a message) when unusable."""
    source = gt or classes
    if source is None:
        if _is_placeholder(trained):
            print(
                f"warning: the checkpoint has no class names, segments will be labelled "
                f"class_0..class_{len(trained) - 1} and 'eval' against a GT with real names "
                "will find nothing: pass --gt GT.json or --classes FILE",
                file=sys.stderr,
            )
        return list(trained)
    try:
        names = gt_class_names(source) if gt else load_class_list(source)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: cannot read class names from {source}: {exc}", file=sys.stderr)
        return None
    if len(names) != len(trained):
        print(
            f"error: {source} lists {len(names)} classes but the model has {len(trained)}: "
            "the names must be in the model's class-index order (cls_label order)",
            file=sys.stderr,
        )
        return None
    if not _is_placeholder(trained) and list(trained) != names:
        print(
            f"warning: the checkpoint's class names differ from {source}'s; labelling by "
            f"index with {source}'s (checkpoint: {', '.join(trained[:3])}, ...; "
            f"{source}: {', '.join(names[:3])}, ...)",
            file=sys.stderr,
        )
    return names


# ----------------------------------------------------------------------------- eval
def _add_gt_pred_arguments(p: argparse.ArgumentParser) -> None:
    """--gt, --pred, --subset, --json: shared by eval and analyze."""
    p.add_argument("--gt", required=True, help="ActivityNet-style GT JSON")
    p.add_argument("--pred", required=True, help="result JSON")
    p.add_argument("--subset", default="test")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def add_eval_parser(sub: Any) -> None:
    p = sub.add_parser("eval", help="ActivityNet mAP of a result JSON")
    _add_gt_pred_arguments(p)
    p.set_defaults(handler=run_eval)


def _load_gt_and_predictions(args: argparse.Namespace) -> tuple[Any, Any] | None:
    """GT of ``--subset`` and the predictions of ``--pred``; None (after saying why on
    stderr) when the GT has no such video or no predicted label is a GT class."""
    gt = load_gt_json(args.gt, args.subset)
    if not gt:
        print(f"no videos of subset {args.subset!r} in {args.gt}", file=sys.stderr)
        return None
    preds = load_results_json(args.pred)
    if not check_labels(gt, preds, args.gt, args.pred):
        return None
    return gt, preds


def run_eval(args: argparse.Namespace) -> int:
    loaded = _load_gt_and_predictions(args)
    if loaded is None:
        return 2
    gt, preds = loaded
    result = compute_map(gt, preds)
    if args.json:
        keys = ("mAP", "avg_0.1_0.7", "avg_0.3_0.7")
        print(json.dumps({k: result[k] for k in keys}))
    else:
        print(format_map_table(result))
    return 0


def _sample(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def check_labels(gt: GroundTruth, preds: Predictions, gt_path: str, pred_path: str) -> bool:
    """False (after an error on stderr) when no predicted label is a GT class; a warning
    when some are not. Segments with unknown labels count for no class."""
    known, unknown = label_coverage(gt, preds)
    if not unknown:
        return True
    classes = sorted({str(label) for segments in gt.values() for _, _, label in segments})
    others = sum(unknown.values())
    if not known:
        print(
            f"error: none of the {others} predicted segments in {pred_path} has a label of "
            f"the classes in {gt_path}: predicted {_sample(sorted(unknown))}; GT has "
            f"{_sample(classes)}. Predictions from npz data without classes.json carry "
            "class_0..class_{C-1}: re-run 'predict' with --gt GT.json (or --classes FILE).",
            file=sys.stderr,
        )
        return False
    print(
        f"warning: {others} of {known + others} predicted segments have labels that are not "
        f"classes of {gt_path} and count for no class: {_sample(sorted(unknown))}",
        file=sys.stderr,
    )
    return True


# ----------------------------------------------------------------------------- analyze
def add_analyze_parser(sub: Any) -> None:
    p = sub.add_parser("analyze", help="false-positive error analysis (DETAD) of a result JSON")
    _add_gt_pred_arguments(p)
    p.add_argument("--plot", help="write a bar chart PNG here")
    p.add_argument("--tiou", type=float, default=0.5, help="summary and profile tIoU")
    p.add_argument(
        "--top-k", type=float, default=10, help="analyse the top k*G predictions of a class"
    )
    p.set_defaults(handler=run_analyze)


def run_analyze(args: argparse.Namespace) -> int:
    from model.analysis import (
        false_positive_analysis,
        format_analysis_table,
        plot_false_positive_analysis,
    )

    loaded = _load_gt_and_predictions(args)
    if loaded is None:
        return 2
    gt, preds = loaded
    try:
        result = false_positive_analysis(gt, preds, summary_tiou=args.tiou, limit_factor=args.top_k)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if result["videos_without_gt"]:
        print(
            f"note: {result['videos_without_gt']} predicted videos have no GT in subset "
            f"{args.subset!r}; their predictions count as background errors",
            file=sys.stderr,
        )
    if args.plot:
        plot_false_positive_analysis(result, args.plot)
    if args.json:
        print(json.dumps(result))
    else:
        print(format_analysis_table(result))
        if args.plot:
            print(f"wrote {args.plot}")
    return 0


# ----------------------------------------------------------------------------- make-sim
def add_make_sim_parser(sub: Any) -> None:
    p = sub.add_parser("make-sim", help="generate THUMOS14-sim (model.sim)")
    p.add_argument("--gt", required=True)
    p.add_argument("--clicks", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    # the options of model.sim.add_arguments (documented in docs/sim.md), defaults in SimParams
    p.add_argument("--feature-dim", dest="feature_dim", type=int, default=None, help="total D")
    p.add_argument("--T", dest="T", type=int, default=None, help="snippets per video")
    p.add_argument("--limit", type=int, default=None, help="first N videos of each split")
    p.add_argument("--strict", action="store_true", help="fail on unknown/test click rows")
    p.set_defaults(handler=run_make_sim)


def run_make_sim(args: argparse.Namespace) -> int:
    from model import sim  # lazy: owned by another module, heavy to import

    return int(sim.main(args) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model.cli", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    add_predict_parser(sub)
    add_eval_parser(sub)
    add_analyze_parser(sub)
    add_make_sim_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
