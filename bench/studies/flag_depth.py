"""Study (finished): does the depth of a flagged click inside its predicted segment tell the
product's right flags (clicks inside a GT action) from its false ones?

Produced docs/research/guided.md, "Does a flag's depth tell a wrong click from a right one?"
(plan, decision and the report fold's results; the review order stayed). Kept so that its
numbers can be reproduced:

    python -m bench.studies.flag_depth --jobs 2     # 3 seeds, 200 + 210 videos, 40 epochs

Per seed s (sim seed s = training seed s; the legacy benchmark recipe and sim v3):
``bg-click`` is trained on every A1 click (the ``active`` version of the product), predicts on
the training videos, and every A1 click (its snippet centre) is checked with
``model.suggest.flag_click`` exactly as the server checks it (segments scoring ≥
``--qa-min-score``, ``--qa-margin`` seconds from each edge). A flagged click's depth is its
distance to the nearer edge of its flagged segment (``model.suggest.edge_distance``; the
largest over its flags) — what the review page shows.

The decision (fixed in the plan): on the dev fold of ``bench.lab.click_qa`` (all seeds
pooled), if the AUC of depth for right against false flags is ≥ ``AUC_TO_SORT``, the review
page lists flags deepest first.
The report fold's numbers are rendered after the decision is stored. No test-split number
is used.

    python -m bench.studies.flag_depth --quick     # 1 seed, 60 + 60 videos, 10 epochs

Output: ``OUT/flag_depth.json`` (resumable: each seed's flags), ``OUT/flag_depth.md``;
default OUT = data/bench/flag_depth.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.lab.annotator import centre, inside_gt
from bench.lab.click_qa import DEV, REPORT, fold_of
from bench.lab.resume import minute_log, run_pending, stored_payload, write_json
from bench.lab.settings import (
    Settings,
    check_no_modes,
    command_line,
    fixed_arms_parser,
    settings_from_args,
)
from bench.lab.sims import ensure_sim, load_sim_items
from bench.lab.training import configs
from model.suggest import edge_distance, flag_click
from model.train import fit, predict

AUC_TO_SORT = 0.60
DEPTH_BINS = ((0.2, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, math.inf))


# ----------------------------------------------------------------------------- pure parts
def flag_depth(
    t_s: float,
    segments: Sequence[tuple[float, float, int, float]],
    *,
    min_score: float,
    margin_s: float,
) -> float | None:
    """The depth of a click inside its flagged segments (the largest); None: not flagged."""
    flags = flag_click(t_s, segments, min_score=min_score, margin_s=margin_s)
    if not flags:
        return None
    return max(edge_distance(t_s, f.start_s, f.end_s)[0] for f in flags)


def auc(positive: Sequence[float], negative: Sequence[float]) -> float | None:
    """P(a positive's value > a negative's), ties counted half; None if a side is empty."""
    if not positive or not negative:
        return None
    pos = np.asarray(positive, dtype=float)[:, None]
    neg = np.asarray(negative, dtype=float)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def by_bin(
    depths: Sequence[float], right: Sequence[bool]
) -> list[tuple[tuple[float, float], int, float | None]]:
    """Per ``DEPTH_BINS`` bin [lo, hi): (bin, flags, precision)."""
    d = np.asarray(depths, dtype=float)
    r = np.asarray(right, dtype=bool)
    out = []
    for lo, hi in DEPTH_BINS:
        m = (d >= lo) & (d < hi)
        out.append(((lo, hi), int(m.sum()), float(r[m].mean()) if m.any() else None))
    return out


def best_threshold(
    depths: Sequence[float], right: Sequence[bool], inside_total: int
) -> tuple[float, float, float] | None:
    """Over thresholds "flag if depth ≥ x" (x = each observed depth): the best precision,
    its recall of all ``inside_total`` in-GT clicks, and x (the smallest x on ties; at least
    10 flags kept). None when fewer than 10 flags."""
    d = np.asarray(depths, dtype=float)
    r = np.asarray(right, dtype=bool)
    best = None
    for x in np.unique(d):
        m = d >= x
        if m.sum() < 10:
            continue
        p = float(r[m].mean())
        if best is None or p > best[0]:
            best = (p, float(r[m].sum()) / inside_total if inside_total else 0.0, float(x))
    return best


# ----------------------------------------------------------------------------- one seed
def _task(spec: dict[str, Any], settings: Settings, device: str, threads: int) -> dict:
    torch.set_num_threads(threads)
    wall, cpu = time.perf_counter(), time.process_time()
    train_items, _, names = load_sim_items(Path(spec["sim_dir"]), settings.standardize)
    model_config, config = configs(
        "bg-click", spec["seed"], settings, train_items, len(names), device
    )
    result = fit(config, model_config, train_items)
    preds = predict(result.model, train_items, config.post)
    clicks = []
    for it in train_items:
        for k in it.bg_clicks.tolist():
            t_s = centre(it, int(k))
            depth = flag_depth(
                t_s, preds[it.name].segments, min_score=spec["min_score"], margin_s=spec["margin_s"]
            )
            clicks.append(
                {
                    "video": it.name,
                    "fold": fold_of(it.name),
                    "inside": inside_gt(t_s, it.gt_segments),
                    "depth_s": None if depth is None else round(depth, 4),
                }
            )
    return {
        "seed": spec["seed"],
        "clicks": clicks,
        "best_epoch": result.best_epoch,
        "total_s": round(time.perf_counter() - wall, 1),
        "cpu_s": round(time.process_time() - cpu, 1),
    }


# ----------------------------------------------------------------------------- analysis
def fold_numbers(runs: Sequence[dict[str, Any]], fold: int) -> dict[str, Any]:
    """AUC, bins and the best threshold over ``runs``' clicks of ``fold``, pooled."""
    rows = [c for r in runs for c in r["clicks"] if c["fold"] == fold]
    flagged = [c for c in rows if c["depth_s"] is not None]
    depths = [c["depth_s"] for c in flagged]
    right = [c["inside"] for c in flagged]
    inside_total = sum(c["inside"] for c in rows)
    return {
        "clicks": len(rows),
        "inside": inside_total,
        "flags": len(flagged),
        "right": int(sum(right)),
        "precision": (sum(right) / len(flagged)) if flagged else None,
        "recall": (sum(right) / inside_total) if inside_total else None,
        "auc": auc(
            [d for d, r in zip(depths, right, strict=True) if r],
            [d for d, r in zip(depths, right, strict=True) if not r],
        ),
        "bins": [[list(b), n, p] for b, n, p in by_bin(depths, right)],
        "best_threshold": best_threshold(depths, right, inside_total),
    }


def decide(payload: dict[str, Any]) -> dict[str, Any]:
    dev = fold_numbers(payload["runs"], DEV)
    sort = dev["auc"] is not None and dev["auc"] >= AUC_TO_SORT
    return {
        "dev": dev,
        "sort_deepest_first": sort,
        "decided_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _table(title: str, numbers: dict[str, Any]) -> list[str]:
    auc_text = "–" if numbers["auc"] is None else f"{numbers['auc']:.3f}"
    lines = [
        f"**{title}**: {numbers['clicks']} clicks, {numbers['inside']} inside GT; "
        f"{numbers['flags']} flags, {numbers['right']} right (precision "
        f"{_pct(numbers['precision'])}, recall {_pct(numbers['recall'])}); AUC of depth "
        f"{auc_text}",
        "",
        "| depth inside the flagged segment | flags | precision |",
        "| --- | ---: | ---: |",
    ]
    for (lo, hi), n, p in numbers["bins"]:
        span = f"[{lo:g}, {hi:g}) s" if math.isfinite(hi) else f"≥ {lo:g} s"
        lines.append(f"| {span} | {n} | {_pct(p)} |")
    bt = numbers["best_threshold"]
    if bt is not None:
        lines += [
            "",
            f"Best depth threshold (≥ {bt[2]:.2f} s): precision {_pct(bt[0])}, recall of the "
            f"in-GT clicks {_pct(bt[1])} (a diagnostic: decides nothing).",
        ]
    return [*lines, ""]


def render(payload: dict[str, Any]) -> str:
    lines = ["# Flag depth (THUMOS14-sim)", "", f"`{payload.get('command', '')}`", ""]
    decision = payload.get("decision")
    if decision is None:
        return "\n".join([*lines, "(not decided yet)", ""])
    lines += _table("Dev fold (all seeds pooled; decides)", decision["dev"])
    lines += [
        f"Decision ({decision['decided_at']}): AUC {'≥' if decision['sort_deepest_first'] else '<'}"
        f" {AUC_TO_SORT:.2f} → the review page "
        f"{'lists flags deepest first' if decision['sort_deepest_first'] else 'keeps its order'}.",
        "",
    ]
    lines += _table("Report fold, all seeds pooled", fold_numbers(payload["runs"], REPORT))
    for run in sorted(payload["runs"], key=lambda r: r["seed"]):
        lines += _table(f"Report fold, seed {run['seed']}", fold_numbers([run], REPORT))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- driver
def run_benchmark(
    settings: Settings,
    gt: Path,
    clicks: Path,
    out_dir: Path,
    *,
    min_score: float = 0.5,
    margin_s: float = 0.2,
    device: str = "cpu",
    command: str = "",
    log: Callable[[str], None] = print,
    jobs: int = 1,
    threads: int = 1,
) -> dict[str, Any]:

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "flag_depth.json", out_dir / "flag_depth.md"
    key = {**settings.key(), "bench": "flag_depth/1", "min_score": min_score, "margin_s": margin_s}
    payload: dict[str, Any] = {"settings": key, "runs": []}
    payload = stored_payload(json_path, key, log) or payload
    payload.update(command=command, device=device)
    specs = [
        {
            "seed": seed,
            "sim_dir": str(ensure_sim(settings, gt, clicks, seed, out_dir, log)),
            "min_score": min_score,
            "margin_s": margin_s,
        }
        for seed in settings.seeds
    ]

    def pending(busy: set[Any]) -> list[dict[str, Any]]:
        done = {r["seed"] for r in payload["runs"]}
        return [s for s in specs if s["seed"] not in done and s["seed"] not in busy]

    def finished(run: dict[str, Any]) -> None:
        payload["runs"].append(run)
        log(f"seed {run['seed']}: done ({run['total_s'] / 60:.1f} min, epoch {run['best_epoch']})")
        write_json(json_path, payload)

    run_pending(
        pending,
        key=lambda s: s["seed"],
        task=_task,
        task_args=(settings, device, threads),
        finished=finished,
        jobs=jobs,
        log=log,
        describe=lambda s: f"seed {s['seed']}: bg-click on every A1 click",
    )
    if payload.get("decision") is None:
        payload["decision"] = decide(payload)  # stored before the report fold is rendered
        write_json(json_path, payload)
    md_path.write_text(render(payload))
    return payload


def build_parser() -> argparse.ArgumentParser:
    p = fixed_arms_parser(__doc__.split("\n")[0], "flag_depth")
    p.prog = "python -m bench.studies.flag_depth"
    p.add_argument("--qa-min-score", type=float, default=0.5, help="the server's default")
    p.add_argument("--qa-margin", type=float, default=0.2, help="seconds; the server's default")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_no_modes(args, "the one arm is bg-click on every A1 click")
    settings = replace(settings_from_args(args), modes=("bg-click",))
    log = minute_log()

    run_benchmark(
        settings,
        args.gt,
        args.clicks,
        args.out_dir,
        min_score=args.qa_min_score,
        margin_s=args.qa_margin,
        device=args.device,
        command=command_line("bench.studies.flag_depth", argv),
        log=log,
        jobs=args.jobs,
        threads=args.threads,
    )
    print((args.out_dir / "flag_depth.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
