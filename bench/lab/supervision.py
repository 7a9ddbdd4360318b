"""The supervision benchmark: every supervision mode and the fully supervised upper bound on
THUMOS14-sim over several seeds (the command: ``python -m bench.supervision``).

For each seed s: the sim of seed s (``bench.lab.sims.ensure_sim``), every mode trained with
training seed s on the 'val' split (10 % held out to choose the best epoch; the test split is
never looked at before the final evaluation), localized on the 210 test videos with the
official post-processing, scored by ActivityNet mAP at tIoU 0.1:0.1:0.7, and a DETAD
false-positive analysis of its test predictions. Results go to ``OUT/supervision.json``
after every training (a rerun with the same settings resumes), the tables to
``OUT/supervision.md``, the plots beside them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bench.lab.plots import plot_fp, plot_results
from bench.lab.reports import (
    CHANCE,
    PLATEAU_LEVEL,
    curve_table,
    fp_summary,
    fp_table,
    margins_table,
    markdown_table,
    mean_std,
    plateau_table,
    profile_table,
)
from bench.lab.resume import stored_payload, write_json
from bench.lab.settings import ALL_MODES, RUN_ORDER, Settings
from bench.lab.sims import ensure_sim, load_sim_items
from bench.lab.training import run_one


def reanalyze(out_dir: Path) -> dict[str, Any]:
    """Recompute every run's false-positive analysis from its saved predictions and rewrite
    the tables and plots of ``out_dir`` (``--render-only``); nothing is trained."""
    json_path = out_dir / "supervision.json"
    payload = json.loads(json_path.read_text())
    for run in payload["runs"]:
        preds = out_dir / "preds" / f"{run['mode']}-seed{run['seed']}.json"
        gt = out_dir / f"sim-seed{run['seed']}" / "gt.json"
        if preds.exists() and gt.exists():
            run["fp_analysis"] = fp_summary(gt, preds)
    write_json(json_path, payload)
    (out_dir / "supervision.md").write_text(render(payload))
    plot_results(payload, out_dir)
    plot_fp(payload, out_dir)
    return payload


def render(payload: dict[str, Any]) -> str:
    runs, s = payload["runs"], payload["settings"]
    modes = [m for m in ALL_MODES if any(r["mode"] == m for r in runs)]
    done = f"{len(runs)} of {len(payload['seeds']) * len(payload['modes'])} trainings finished"
    parts = [
        "# THUMOS14-sim supervision benchmark",
        "",
        f"Command: `{payload['command']}`",
        "",
        f"Settings: {json.dumps(s)}; seeds {payload['seeds']}; {done}.",
        "",
        "mAP (%) on the 210 test videos, mean ± std (ddof 1) over seeds:",
        "",
        markdown_table(runs, modes),
        "",
        "Diagnostic, not the benchmark: the same trained models with the GT video labels in"
        " place of the predicted video scores (localization alone):",
        "",
        markdown_table([r for r in runs if "test_oracle_labels" in r], modes, "test_oracle_labels"),
        "",
        "Test video classification (top-1 class is a GT class): "
        + ", ".join(
            f"{m} {mean_std([r['test_video_top1'] for r in runs if r['mode'] == m])} %"
            for m in modes
            if any(r["mode"] == m and "test_video_top1" in r for r in runs)
        ),
        "",
        "Paired margins (same seed = same sim and same training seed), points of mAP:",
        "",
        margins_table(runs),
        "",
        "True and false positives of the top-10G predictions at tIoU 0.5 and the false positives"
        " by DETAD type (`model.cli analyze` on `preds/<mode>-seed<s>.json`; counts: mean over"
        " seeds):",
        "",
        fp_table(runs),
        "",
        "The best-ranked predictions (DETAD's 1G bin at tIoU 0.5: the top G of each class, G its"
        " number of GT instances), mean over seeds:",
        "",
        profile_table(runs),
        "",
        f"Plateau exit (first epoch with training video_supp < {PLATEAU_LEVEL} × ln 21):",
        "",
        plateau_table(runs),
        "",
        f"Suppressed-branch video loss (bg-click; chance ln 21 = {CHANCE:.2f}) and mean "
        "foreground weight a_t, per epoch:",
        "",
        curve_table(runs),
        "",
        "Time per training (s, training + test evaluation): "
        + ", ".join(f"{r['mode']}/s{r['seed']} {r['total_s']:.0f}" for r in runs),
        "",
    ]
    return "\n".join(parts)


def train_task(
    mode: str,
    seed: int,
    settings: Settings,
    sim_dir: Path,
    out_dir: Path,
    device: str,
    threads: int,
) -> dict[str, Any]:
    """One (mode, seed) training, in this process or a pool worker (``--jobs``)."""
    torch.set_num_threads(threads)
    train_items, test_items, names = load_sim_items(sim_dir, settings.standardize)

    def log(msg: str) -> None:
        print(msg, flush=True)

    run = run_one(
        mode,
        seed,
        settings,
        train_items,
        test_items,
        len(names),
        device,
        log,
        preds_path=out_dir / "preds" / f"{mode}-seed{seed}.json",
        class_names=names,
    )
    run["T"] = settings.T
    return run


def run_benchmark(
    settings: Settings,
    gt: Path,
    clicks: Path,
    out_dir: Path,
    device: str = "cpu",
    command: str = "",
    log: Callable[[str], None] = print,
    jobs: int = 1,
    threads: int = 1,
) -> dict[str, Any]:
    """Every (seed, mode) not yet in ``out_dir/supervision.json``; returns the payload.

    ``jobs`` > 1 trains that many (mode, seed) pairs at once in worker processes with
    ``threads`` torch threads each (on a small CPU, 1-thread processes side by side beat one
    multi-threaded training: the threads spin-wait on each other). Results are identical to
    a sequential run: each training seeds itself.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "supervision.json", out_dir / "supervision.md"
    payload: dict[str, Any] = {"settings": settings.key(), "runs": []}
    if (old := stored_payload(json_path, settings.key(), log)) is not None:
        payload["runs"] = old["runs"]
    payload.update(seeds=list(settings.seeds), modes=list(settings.modes), command=command)
    payload["device"] = device
    total = len(settings.seeds) * len(settings.modes)
    started = time.perf_counter()
    tasks: list[tuple[str, int, Path]] = []
    for seed in settings.seeds:
        todo = [
            m
            for m in sorted(settings.modes, key=RUN_ORDER.index)
            if not any(r["mode"] == m and r["seed"] == seed for r in payload["runs"])
        ]
        if todo:
            sim_dir = ensure_sim(settings, gt, clicks, seed, out_dir, log)
            tasks.extend((mode, seed, sim_dir) for mode in todo)

    def finished(run: dict[str, Any]) -> None:
        sim_dir = out_dir / f"sim-seed{run['seed']}"
        preds = out_dir / "preds" / f"{run['mode']}-seed{run['seed']}.json"
        if preds.exists() and (sim_dir / "gt.json").exists():
            run["fp_analysis"] = fp_summary(sim_dir / "gt.json", preds)
        payload["runs"].append(run)
        t = run["test"]
        log(
            f"[{len(payload['runs'])}/{total}] seed {run['seed']} {run['mode']}: mAP@0.5 "
            f"{100 * t['mAP']['0.5']:.1f} avg0.1:0.7 {100 * t['avg_0.1_0.7']:.1f} best epoch "
            f"{run['best_epoch']} ({run['total_s']:.0f} s; elapsed "
            f"{(time.perf_counter() - started) / 60:.1f} min)"
        )
        write_json(json_path, payload)
        md_path.write_text(render(payload))

    if jobs <= 1:
        for mode, seed, sim_dir in tasks:
            log(f"seed {seed} {mode}: training")
            finished(train_task(mode, seed, settings, sim_dir, out_dir, device, threads))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = [
                pool.submit(train_task, mode, seed, settings, sim_dir, out_dir, device, threads)
                for mode, seed, sim_dir in tasks
            ]
            log(f"{len(futures)} trainings on {jobs} worker processes")
            for future in as_completed(futures):
                finished(future.result())
    payload["runs"].sort(key=lambda r: (r["seed"], RUN_ORDER.index(r["mode"])))
    write_json(json_path, payload)
    md_path.write_text(render(payload))
    for path in [*plot_results(payload, out_dir), plot_fp(payload, out_dir)]:
        if path is not None:
            log(f"wrote {path}")
    return payload
