"""Study (finished) — dead-start probes: short trainings of one mode under the published recipe
(lr 1e-4, batch 16, raw features) with one change at a time, printing the per-epoch losses and
the mean foreground weight.

Produced docs/research/supervision.md, "The dead start" (the table of one-change probes) and
"Second step: what still delayed weak, both (epoch 4) and bg-click (epoch 6)" (the probes on
top of the fix, and the ``--logit-step`` table). The fix it led to is the studio recipe of
``model.recipes``; kept so that those numbers can be reproduced:

    python -m bench.studies.deadstart_probes --sim DIR --epochs 8 --variant published
    python -m bench.studies.deadstart_probes --sim DIR --mode weak --variant z+width
    python -m bench.studies.deadstart_probes --sim DIR --logit-step 128 512 2048

``DIR`` is a generated THUMOS14-sim (``python -m model.cli make-sim`` or a ``sim-seed0`` folder
of the benchmark). A variant is ``+``-joined changes:

- ``published``     nothing changed
- ``topk``          ModelConfig.filter_norm="topk" (scale-free foreground filter)
- ``z``             ModelConfig.input_norm="standardize" (the network z-scores its input)
- ``width``         TrainConfig.lr_scaling="width" (per-layer lr x published / own fan-in)
- ``nol1``          the L1 term on the foreground weights off
- ``warm=N``        the suppressed-branch video loss off for the first N epochs
- ``b2=X``          Adam beta2 = X
- ``wd=X``          weight decay = X
- ``init=S``        the base module's and classifier's initial weights scaled by S
- ``dropout=P``     dropout P
- ``ramp=N``        TrainConfig.click_rampup_epochs=N (click CE weight x min(1, (e - 1) / N))
- ``rampall=N``     the same ramp on all three click terms (click CE, separation, embedding)
- ``l1warm=N``      the L1 term on the foreground weights off for the first N epochs
- ``dropwarm=N``    dropout off for the first N epochs
- ``lrwarm=N``      Adam lr ramped in linearly per step over the first N epochs
- ``clsinit=S``     the classifier's initial weights scaled by S
- ``winit``         TrainConfig.init_scaling="width" (the classifier's initial weights x
                    sqrt(published / own width))
- ``winit4``        the first form of that option, measured and dropped: conv2 and classifier
                    x sqrt(2048 / width), filter_conv2 and embed_conv2 x sqrt(512 / their width)

Only held-out *training* videos are evaluated (the test split is not loaded).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

import model.train as train_module
from model.config import LossWeights, ModelConfig, TrainConfig
from model.data import load_class_names, load_npz_split
from model.losses import backtal_losses
from model.network import BackTAL


def parse_variant(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split("+"):
        name, _, value = part.partition("=")
        if name not in {
            "published",
            "topk",
            "z",
            "width",
            "nol1",
            "warm",
            "b2",
            "wd",
            "init",
            "dropout",
            "ramp",
            "rampall",
            "l1warm",
            "dropwarm",
            "lrwarm",
            "clsinit",
            "winit",
            "winit4",
        }:
            raise SystemExit(f"unknown variant part {part!r} (see the module docstring)")
        out[name] = value
    return out


def logit_step(sim: Path, widths: list[int], mode: str, seed: int) -> None:
    """How far one Adam step moves the base branch's logits, by the weights that take it.

    Per base-module width (filter/embedding 128, lr_scaling="width", input_norm on, one batch
    of 16 training videos): RMS change of the eval-mode base CAS logits after one step on the
    training loss that updates only the classifier, conv2, conv1, or the base module (conv1
    and conv2), with init_scaling "none", "width" (the classifier), and "winit4" (the
    option's first form, which also scaled conv2, filter_conv2 and embed_conv2). Adam's
    first step is lr x sign(gradient) per weight, so this is the logits' sensitivity to an
    lr-sized step, not to the gradient size.
    """
    from model.data import collate
    from model.train import lr_multipliers, scale_initial_weights

    items = load_npz_split(sim, "val")[:16]
    num_classes = len(load_class_names(sim, "val", items[0].labels.shape[0]))
    stacked = torch.from_numpy(__import__("numpy").concatenate([it.features for it in items]))
    batch = collate(items, mode)
    groups = {
        "classifier": ("classifier.weight",),
        "conv2": ("conv2.weight",),
        "conv1": ("conv1.weight",),
        "base": ("conv1.weight", "conv2.weight"),
    }
    print("width init | initial logit RMS | step of: " + " | ".join(groups))
    for width in widths:
        mc = ModelConfig(
            feature_dim=items[0].features.shape[1],
            num_classes=num_classes,
            hidden=width,
            embed_hidden=128,
            filter_hidden=128,
            input_norm="standardize",
        )
        for init in ("none", "width", "winit4"):
            tc = TrainConfig(
                supervision=mode,
                lr=1e-4,
                lr_scaling="width",
                init_scaling="none" if init == "none" else "width",  # winit4: x classifier
            )
            cells = []
            for group in groups.values():
                torch.manual_seed(seed)
                model = BackTAL(mc)
                scale_initial_weights(model, tc)  # "width": the classifier
                if init == "winit4":  # the first form: also conv2, filter_conv2, embed_conv2
                    with torch.no_grad():
                        model.conv2.weight.mul_((2048 / width) ** 0.5)
                        model.filter_conv2.weight.mul_(2.0)
                        model.embed_conv2.weight.mul_(2.0)
                model.set_input_stats(stacked.mean(0).float(), stacked.std(0).float())
                model.eval()
                with torch.no_grad():
                    before = model(batch.features, batch.mask).cas_base  # (B, C+1, T)
                mult = lr_multipliers(mc)
                named = dict(model.named_parameters())
                opt = torch.optim.Adam(
                    [{"params": [named[n]], "lr": tc.lr * mult[n]} for n in group],
                    weight_decay=tc.weight_decay,
                )
                model.train()
                torch.manual_seed(seed)
                out = model(batch.features, batch.mask)
                backtal_losses(out, batch, tc.loss_weights, mode)["total"].backward()
                opt.step()
                model.eval()
                with torch.no_grad():
                    after = model(batch.features, batch.mask).cas_base
                cells.append(float((after - before).pow(2).mean().sqrt()))
            rms = float(before.pow(2).mean().sqrt())
            print(f"{width} {init} | {rms:.3f} | " + " | ".join(f"{c:.4f}" for c in cells))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.studies.deadstart_probes", description=__doc__.split("\n")[0]
    )
    p.add_argument("--sim", type=Path, required=True)
    p.add_argument("--mode", default="bg-click")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--variant", default="published")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--logit-step",
        type=int,
        nargs="+",
        metavar="WIDTH",
        help="instead of training: one-step logit movement per base-module width (logit_step)",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.logit_step:
        logit_step(args.sim, args.logit_step, args.mode, args.seed)
        return 0
    v = parse_variant(args.variant)
    items = load_npz_split(args.sim, "val")
    num_classes = len(load_class_names(args.sim, "val", items[0].labels.shape[0]))
    mc = ModelConfig(
        feature_dim=items[0].features.shape[1],
        num_classes=num_classes,
        hidden=args.hidden,
        embed_hidden=args.hidden,
        filter_hidden=args.hidden,
        filter_norm="topk" if "topk" in v else "none",
        input_norm="standardize" if "z" in v else "none",
        dropout=float(v["dropout"]) if "dropout" in v else 0.7,
    )
    extra: dict[str, Any] = {}
    if "b2" in v:
        extra["betas"] = (0.9, float(v["b2"]))
    if "wd" in v:
        extra["weight_decay"] = float(v["wd"])
    tc = TrainConfig(
        supervision=args.mode,
        epochs=args.epochs,
        batch_size=16,
        lr=1e-4,
        seed=args.seed,
        device="cpu",
        lr_scaling="width" if "width" in v else "none",
        init_scaling="width" if "winit" in v else "none",
        click_rampup_epochs=int(v.get("ramp") or 0),
        loss_weights=LossWeights(fg_norm=0.0) if "nol1" in v else LossWeights(),
        **extra,
    )
    epoch_now = {"epoch": 1}

    def scheduled(weights: LossWeights) -> LossWeights:
        """The loss weights of the current epoch under the variant's schedules."""
        epoch = epoch_now["epoch"]
        if "warm" in v and epoch <= int(v["warm"]):
            weights = replace(weights, video_supp=0.0)
        if "l1warm" in v and epoch <= int(v["l1warm"]):
            weights = replace(weights, fg_norm=0.0)
        if "rampall" in v:
            factor = min(1.0, (epoch - 1) / int(v["rampall"]))
            terms = ("click", "separation", "embedding")
            weights = replace(weights, **{t: getattr(weights, t) * factor for t in terms})
        return weights

    if {"warm", "l1warm", "rampall"} & set(v):

        def losses(outputs: Any, batch: Any, weights: LossWeights, supervision: str) -> Any:
            return backtal_losses(outputs, batch, scheduled(weights), supervision)

        train_module.backtal_losses = losses  # type: ignore[assignment]
    if "dropwarm" in v or "lrwarm" in v:
        base_step = train_module.train_step
        steps_per_epoch = -(-(len(items) - round(0.1 * len(items))) // 16)
        step_count = [0]
        base_lrs: list[float] = []

        def step_fn(model: Any, batch: Any, optimizer: Any, config: TrainConfig) -> Any:
            if not base_lrs:
                base_lrs.extend(g["lr"] for g in optimizer.param_groups)
            if "dropwarm" in v:
                model.dropout.p = 0.0 if epoch_now["epoch"] <= int(v["dropwarm"]) else 0.7
            if "lrwarm" in v:
                factor = min(1.0, (step_count[0] + 1) / (int(v["lrwarm"]) * steps_per_epoch))
                for g, lr in zip(optimizer.param_groups, base_lrs, strict=True):
                    g["lr"] = lr * factor
            step_count[0] += 1
            return base_step(model, batch, optimizer, config)

        train_module.train_step = step_fn
    if "clsinit" in v or "winit4" in v:
        cls_scale = float(v.get("clsinit") or 1.0)

        class ScaledClassifier(BackTAL):
            def __init__(self, config: ModelConfig) -> None:
                super().__init__(config)
                with torch.no_grad():
                    self.classifier.weight.mul_(cls_scale)
                    if "winit4" in v:
                        for name, fan, published in (
                            ("conv2", config.hidden, 2048),
                            ("classifier", config.hidden, 2048),
                            ("filter_conv2", config.filter_hidden, 512),
                            ("embed_conv2", config.embed_hidden, 512),
                        ):
                            getattr(self, name).weight.mul_((published / fan) ** 0.5)

        train_module.BackTAL = ScaledClassifier  # type: ignore[misc]
    if "init" in v:
        scale = float(v["init"])

        class Scaled(BackTAL):
            def __init__(self, config: ModelConfig) -> None:
                super().__init__(config)
                with torch.no_grad():
                    for layer in (self.conv1, self.conv2, self.classifier):
                        layer.weight.mul_(scale)

        train_module.BackTAL = Scaled  # type: ignore[misc]
    started = time.perf_counter()

    def progress(info: dict[str, Any]) -> None:
        epoch_now["epoch"] = info["epoch"] + 1
        losses = info["losses"]
        shown = " ".join(
            f"{k}={losses[k]:.3f}" for k in ("video_base", "video_supp", "click", "total")
        )
        held = 100 * info["val"].get("mAP_0.1_0.7", float("nan"))
        print(
            f"{args.variant} {args.mode} epoch {info['epoch']} {shown} "
            f"mean_a={losses['fg_norm'] / items[0].num_snippets:.3f} holdout_mAP={held:.1f} "
            f"[{time.perf_counter() - started:.0f} s]",
            flush=True,
        )

    train_module.fit(tc, mc, items, on_progress=progress)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
