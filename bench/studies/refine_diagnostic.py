"""Study (finished): where does the second stage (``model.refine``) lose — its new
boundaries or its new scores? Held-out folds of ``bench.click_losses`` runs only.

Produced docs/research/click-losses.md, "Family 2: why the second stage loses". For each seed
of ``--out-dir`` (a ``python -m bench.click_losses`` folder holding the first-stage
checkpoint of ``--arm``), the second stage is trained again exactly as the benchmark trains
it (the folder's refine settings, seed = training seed) and the held-out fold's mAP@0.5 is
computed four ways: the first stage alone; both changes (the arm ``ARM+refine``); only the new
boundaries (proposal scores kept); only the new scores (proposal edges kept). No test-split
number is read.

    python -m bench.studies.refine_diagnostic --out-dir data/bench/click-losses-v3 --seeds 0 1 2 3 4

Output: a markdown table on stdout and ``OUT/refine_diagnostic.json``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.lab.click_losses import Arm, run_id, split_fold

WAYS = ("first stage", "second stage", "only its boundaries", "only its scores")


def diagnose(out_dir: Path, arm: str, version: int, seed: int) -> dict[str, Any]:
    from bench.lab.sims import load_sim_items
    from model import refine
    from model.config import TrainConfig
    from model.evaluate import compute_map
    from model.train import load_checkpoint

    settings = json.loads((out_dir / "runs.json").read_text())["settings"]
    train_items, _, _ = load_sim_items(out_dir / f"sim-v{version}" / f"sim-seed{seed}", False)
    train, held = split_fold(train_items, seed)
    ckpt = out_dir / "ckpt" / f"{run_id(Arm.parse(arm), version, seed)}.pt"
    model, _, _, meta = load_checkpoint(ckpt)
    post = TrainConfig.from_dict(meta["train_config"]).post  # the benchmark's, as trained
    rconf = refine.RefineConfig(**settings.get("refine", {}), seed=seed)
    refiner, info = refine.fit_refiner(model, train, rconf, val_items=held, post=post)
    first = refine.first_stage_outputs(model, held, post)
    gt = {it.name: list(it.gt_segments or []) for it in held}
    preds = {
        WAYS[0]: {n: first[n][0] for n in first},
        WAYS[1]: refine.refine_segments(refiner, held, first, post),
        WAYS[2]: refine.refine_segments(refiner, held, first, post, scores=False),
        WAYS[3]: refine.refine_segments(refiner, held, first, post, boundaries=False),
    }
    result: dict[str, Any] = {w: compute_map(gt, p)["mAP"]["0.5"] for w, p in preds.items()}
    lengths = [e - s for segs in preds[WAYS[0]].values() for s, e, *_ in segs]
    moved = [e - s for segs in preds[WAYS[2]].values() for s, e, *_ in segs]
    truth = [e - s for segs in gt.values() for s, e, _ in segs]
    result["median length (s): GT, first stage, second stage"] = [
        float(np.median(x)) if x else float("nan") for x in (truth, lengths, moved)
    ]
    result["pseudo_fg_share"] = info["pseudo_fg_share"]
    return result


def render(rows: dict[int, dict[str, Any]]) -> str:
    lines = [
        "| seed | " + " | ".join(WAYS) + " | median length GT / first / second (s) |",
        "| --- | " + " | ".join("---:" for _ in WAYS) + " | --- |",
    ]
    for seed, r in rows.items():
        med = " / ".join(f"{x:.1f}" for x in r["median length (s): GT, first stage, second stage"])
        lines.append(f"| {seed} | " + " | ".join(f"{100 * r[w]:.1f}" for w in WAYS) + f" | {med} |")
    means = [100 * float(np.mean([r[w] for r in rows.values()])) for w in WAYS]
    lines.append("| mean | " + " | ".join(f"{m:.1f}" for m in means) + " | |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.studies.refine_diagnostic",
                                description=__doc__.split("\n")[0])  # fmt: skip
    p.add_argument("--out-dir", type=Path, required=True, help="a bench.click_losses folder")
    p.add_argument("--arm", default="bg-click:published", help="the first stage to refine")
    p.add_argument("--version", type=int, choices=(2, 3), default=3)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = {s: diagnose(args.out_dir, args.arm, args.version, s) for s in args.seeds}
    (args.out_dir / "refine_diagnostic.json").write_text(json.dumps(rows, indent=1))
    print(f"{args.arm}, sim v{args.version}, held-out fold mAP@0.5 (%):\n")
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
