"""Command line: ``python -m model.cli {train,predict,eval,make-sim} ...``.

    train   --data DIR --supervision MODE --out DIR [--split val --epochs N --hidden N ...]
    predict --ckpt F --data DIR [--split test] --out results.json
    eval    --gt GT.json --pred results.json [--subset test] [--json]
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
from model.config import SUPERVISION_MODES, ModelConfig, TrainConfig
from model.data import load_dataset
from model.evaluate import (
    compute_map,
    format_map_table,
    load_gt_json,
    load_results_json,
    write_results_json,
)
from model.train import fit, load_checkpoint, predict, resolve_device, save_checkpoint


# ----------------------------------------------------------------------------- train
def add_train_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="train BackTAL on a split, write OUT/model.pt")
    p.add_argument("--data", required=True, help="npz root folder or .json npy index")
    p.add_argument("--split", default="val", help="training split (THUMOS14: val)")
    p.add_argument("--supervision", choices=SUPERVISION_MODES, default="bg-click")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--affinity", choices=("paper", "official"), default="paper")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--holdout", type=float, default=0.1, help="fraction held out to pick epoch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    p.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    joined = distributed.init_from_env(args.device)  # under torchrun: join the process group
    try:
        return _train(args)
    finally:
        if joined:
            distributed.cleanup()


def _train(args: argparse.Namespace) -> int:
    main_process = distributed.is_main_process()  # only rank 0 reports and writes OUT
    items, class_names = load_dataset(args.data, args.split)
    model_config = ModelConfig(
        feature_dim=items[0].features.shape[1],
        num_classes=len(class_names),
        hidden=args.hidden,
        affinity=args.affinity,
    )
    config = TrainConfig(
        supervision=args.supervision,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        precision=args.precision,
        holdout_fraction=args.holdout,
    )
    bar = tqdm(
        total=config.epochs,
        desc=f"train {args.supervision}",
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
    metrics = {"best_epoch": result.best_epoch, "val": result.best_metrics}
    save_checkpoint(out / "model.pt", result.model, model_config, config, class_names, metrics)
    (out / "history.json").write_text(json.dumps(result.history, indent=1))
    print(f"best epoch {result.best_epoch}; wrote {out / 'model.pt'}")
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
    items, _ = load_dataset(args.data, args.split)
    preds = {}
    for item in tqdm(items, desc="predict", unit="video"):
        result = predict(model, [item], post, class_names, device)[item.name]
        preds[item.name] = [(s, e, class_names[c], score) for s, e, c, score in result.segments]
    write_results_json(args.out, preds)
    print(f"wrote {sum(map(len, preds.values()))} segments for {len(preds)} videos to {args.out}")
    return 0


# ----------------------------------------------------------------------------- eval
def add_eval_parser(sub: Any) -> None:
    p = sub.add_parser("eval", help="ActivityNet mAP of a result JSON")
    p.add_argument("--gt", required=True, help="ActivityNet-style GT JSON")
    p.add_argument("--pred", required=True, help="result JSON")
    p.add_argument("--subset", default="test")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    gt = load_gt_json(args.gt, args.subset)
    if not gt:
        print(f"no videos of subset {args.subset!r} in {args.gt}", file=sys.stderr)
        return 2
    result = compute_map(gt, load_results_json(args.pred))
    if args.json:
        keys = ("mAP", "avg_0.1_0.7", "avg_0.3_0.7")
        print(json.dumps({k: result[k] for k in keys}))
    else:
        print(format_map_table(result))
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
    add_make_sim_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
