"""How much work correcting the model's predictions saves against drawing every segment
(issue 22 item 6; plan and results: docs/research/correction.md).

Reads the trained runs of ``bench.click_losses`` (``runs.json``, ``preds/<run>-heldout.json``
and ``-test.json``, the sims under ``sim-v<version>/sim-seed<seed>/``); trains nothing. Per
run (arm, sim version, seed) and cost variant (policy of ``model.correction`` + edge
tolerance), the simulated annotator's operations are costed at every score threshold θ of
``THETAS`` on the held-out fold and on the test split; θ is chosen on the held-out fold
(least total cost; ties: the higher θ, "show nothing" highest) and the test split is
reported at it.

    python -m bench.correction --runs data/bench/noise-floor data/bench/click-losses-v2
    python -m bench.correction --runs DIR --arms weak bg-click:published --versions 3

Output (``--out-dir``, default data/bench/correction): ``costs.json`` (every run's costs per
θ; a rerun costs only runs it has not seen), ``report.md``, ``correction-v<version>.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from bench.lab.click_losses import Arm, load_preds
from model.correction import (
    MIN_TOLERANCE_S,
    POLICIES,
    Cost,
    correction_cost,
    edge_tolerance,
    scratch_cost,
    shown_segments,
)

ROOT = Path(__file__).resolve().parents[1]
# "show nothing" (None) first, then θ descending: the first least cost is the highest θ
THETAS: tuple[float | None, ...] = (None, *(round(0.95 - 0.05 * i, 2) for i in range(19)))
PRIMARY = "review"
# name → (policy of model.correction, snippet-aware tolerance?)
VARIANTS: dict[str, tuple[str, bool]] = {
    "review": ("review", True),
    "review, 0.5 s": ("review", False),
    "bulk": ("bulk", True),
    "pick": ("pick", True),
}
GOAL = 0.40
REFERENCE = "bg-click:published"
T_95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)  # df 1…10


@dataclass(frozen=True)
class Video:
    name: str
    duration: float
    snippets: int
    gt: tuple[tuple[float, float, int], ...]


def load_videos(sim_dir: Path) -> dict[str, Video]:
    """Every video of a sim (both splits): duration, snippet count and GT (class indices)."""
    out: dict[str, Video] = {}
    for split in ("val", "test"):
        for path in sorted((sim_dir / split).glob("*.npz")):
            with np.load(path) as z:
                gt = tuple(
                    (float(s), float(e), int(c))
                    for s, e, c in np.asarray(z["gt_segments"]).reshape(-1, 3)
                )
                name = str(z["vid_name"])
                out[name] = Video(name, float(z["duration"]), int(z["point_label"].shape[0]), gt)
    return out


def t_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """95 % t-interval of the mean of ``values`` (None for fewer than 2 or more than 11)."""
    n = len(values)
    if n < 2 or n - 1 > len(T_95):
        return None
    arr = np.asarray(values, dtype=np.float64)
    half = T_95[n - 2] * float(arr.std(ddof=1)) / math.sqrt(n)
    return float(arr.mean()) - half, float(arr.mean()) + half


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def cost_split(
    videos: dict[str, Video], preds: dict[str, list], policy: str, snippet_tolerance: bool
) -> dict[str, Any]:
    """Summed operations over the videos of ``preds`` at every θ of ``THETAS``, and the
    scratch cost of the same videos."""
    prices = POLICIES[policy]
    per_theta = [Cost() for _ in THETAS]
    scratch = Cost()
    for name, segments in preds.items():
        video = videos[name]
        tol = (
            edge_tolerance(video.duration, video.snippets) if snippet_tolerance else MIN_TOLERANCE_S
        )
        scratch = scratch + scratch_cost(video.gt, prices)
        segs = [(float(s), float(e), int(c), float(sc)) for s, e, c, sc in segments]
        for k, theta in enumerate(THETAS):
            per_theta[k] = per_theta[k] + correction_cost(
                video.gt, shown_segments(segs, theta), tol, prices
            )
    return {
        "videos": len(preds),
        "instances": scratch.new_segments,
        "scratch": scratch.total,
        "per_theta": [asdict(c) for c in per_theta],
    }


def choose(heldout: dict[str, Any]) -> int:
    """Index into THETAS of the least held-out cost (the first, i.e. highest θ, on a tie)."""
    totals = [c["total"] for c in heldout["per_theta"]]
    return int(np.argmin(totals))


def saving(split: dict[str, Any], k: int) -> float:
    return 1.0 - split["per_theta"][k]["total"] / split["scratch"] if split["scratch"] else 0.0


def cost_run(run: dict[str, Any], videos: dict[str, Video]) -> dict[str, Any]:
    """All variants of one run: held-out and test costs per θ, the chosen θ."""
    out: dict[str, Any] = {}
    where = Path(run["dir"])
    preds = {
        split: load_preds(where, run["arm"], run["version"], run["seed"], split)
        for split in ("heldout", "test")
    }
    for name, (policy, snippet_tol) in VARIANTS.items():
        held = cost_split(videos, preds["heldout"], policy, snippet_tol)
        test = cost_split(videos, preds["test"], policy, snippet_tol)
        k = choose(held)
        out[name] = {"heldout": held, "test": test, "chosen": k, "theta": THETAS[k]}
    return out


# ----------------------------------------------------------------------------- driver
def collect_runs(run_dirs: Sequence[Path]) -> list[dict[str, Any]]:
    """Every finished run of the folders (runs.json lists a run only once its predictions
    are written); the same (arm, version, seed) twice is an error."""
    runs, seen = [], set()
    for d in (Path(x).resolve() for x in run_dirs):
        for r in json.loads((d / "runs.json").read_text())["runs"]:
            key = (r["arm"], r["version"], r["seed"])
            if key in seen:
                raise SystemExit(f"{key} is in more than one of {[str(x) for x in run_dirs]}")
            seen.add(key)
            runs.append(
                {"arm": r["arm"], "version": r["version"], "seed": r["seed"], "dir": str(d)}
            )
    return runs


def settings_key() -> dict[str, Any]:
    return {
        "thetas": list(THETAS),
        "variants": {k: list(v) for k, v in VARIANTS.items()},
        "prices": {k: asdict(v) for k, v in POLICIES.items()},
        "min_tolerance_s": MIN_TOLERANCE_S,
    }


def _key(run: dict[str, Any]) -> str:
    return f"{run['dir']}|{run['arm']}|v{run['version']}|s{run['seed']}"


def run_costs(
    runs: Sequence[dict[str, Any]], out_dir: Path, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Cost every run not yet in ``out_dir/costs.json`` (written after each run)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "costs.json"
    payload: dict[str, Any] = {"settings": settings_key(), "runs": {}}
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("settings") == json.loads(json.dumps(settings_key())):
            payload["runs"] = old["runs"]
        else:
            log(f"{path}: made with another cost model; costing every run again")
    videos: dict[tuple[str, int, int], dict[str, Video]] = {}
    for run in runs:
        key = _key(run)
        if key in payload["runs"]:
            continue
        sim = (run["dir"], run["version"], run["seed"])
        if sim not in videos:
            videos[sim] = load_videos(
                Path(run["dir"]) / f"sim-v{run['version']}" / f"sim-seed{run['seed']}"
            )
        payload["runs"][key] = {**run, "costs": cost_run(run, videos[sim])}
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(payload))
        os.replace(tmp, path)
        log(f"costed {run['arm']} v{run['version']} s{run['seed']}")
    return payload


# ----------------------------------------------------------------------------- report
def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _ms(values: Sequence[float]) -> str:
    mean, std = mean_std(values)
    return f"{100 * mean:.1f} ± {100 * std:.1f}" if len(values) > 1 else f"{100 * mean:.1f}"


def _ci(values: Sequence[float]) -> str:
    ci = t_interval(values)
    return f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "—"


def _theta(theta: float | None) -> str:
    return "none" if theta is None else f"{theta:.2f}"


def _arm_order(arm: str) -> tuple[int, int, str]:
    parsed = Arm.parse(arm)
    rank = {"weak": 0, "action-click": 1, "bg-click": 2, "both": 3}.get(parsed.mode, 4)
    return parsed.offset, rank if arm != REFERENCE else 1, arm


Table = dict[int, dict[str, dict[int, dict[str, Any]]]]  # version → arm → seed → run


def summarize(payload: dict[str, Any], arms: Sequence[str] | None = None) -> Table:
    """Per sim version and arm: seeds and per-seed numbers of every variant."""
    table: Table = {}
    for run in payload["runs"].values():
        if arms and run["arm"] not in arms:
            continue
        table.setdefault(run["version"], {}).setdefault(run["arm"], {})[run["seed"]] = run
    return table


def _paired(
    runs_a: dict[int, dict[str, Any]], runs_b: dict[int, dict[str, Any]], variant: str
) -> tuple[list[int], list[float]]:
    seeds = sorted(set(runs_a) & set(runs_b))
    diffs = [_test_saving(runs_a[s], variant) - _test_saving(runs_b[s], variant) for s in seeds]
    return seeds, diffs


def _test_saving(run: dict[str, Any], variant: str) -> float:
    c = run["costs"][variant]
    return saving(c["test"], c["chosen"])


def _best_test_saving(run: dict[str, Any], variant: str) -> float:
    c = run["costs"][variant]
    return max(saving(c["test"], k) for k in range(len(THETAS)))


def version_lines(version: int, arms: dict[str, dict[int, dict[str, Any]]]) -> list[str]:
    order = sorted(arms, key=_arm_order)
    lines = [
        f"## Sim v{version}: the test split at θ chosen on the held-out fold (policy `review`)",
        "",
        "| arm | seeds | θ per seed | saving per seed (%) | mean ± std (%) | 95 % CI | "
        "test-optimal θ: mean (upper bound) |",
        "| --- | --- | --- | --- | ---: | ---: | ---: |",
    ]
    for arm in order:
        seeds = sorted(arms[arm])
        s = [_test_saving(arms[arm][k], PRIMARY) for k in seeds]
        best = [_best_test_saving(arms[arm][k], PRIMARY) for k in seeds]
        lines.append(
            f"| {arm} | {','.join(map(str, seeds))} | "
            f"{', '.join(_theta(arms[arm][k]['costs'][PRIMARY]['theta']) for k in seeds)} | "
            f"{', '.join(_pct(v) for v in s)} | {_ms(s)} | {_ci(s)} | {_ms(best)} |"
        )
    lines += [
        "",
        "Operations on the test split at the chosen θ, summed over the seeds (per 100 GT "
        "instances; from scratch: 300 = 100 new segments):",
        "",
        "| arm | instances | accepts | deletes | edge drags | class changes | new segments | "
        "total | from scratch |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for arm in order:
        tot = {f.name: 0 for f in fields(Cost)}
        instances = scratch = 0
        for run in arms[arm].values():
            c = run["costs"][PRIMARY]
            for name in tot:
                tot[name] += c["test"]["per_theta"][c["chosen"]][name]
            instances += c["test"]["instances"]
            scratch += c["test"]["scratch"]
        per = 100 / instances if instances else 0.0
        lines.append(
            f"| {arm} | {instances} | {tot['accepts'] * per:.1f} | {tot['deletes'] * per:.1f} | "
            f"{tot['drags'] * per:.1f} | {tot['class_changes'] * per:.1f} | "
            f"{tot['new_segments'] * per:.1f} | {tot['total'] * per:.1f} | {scratch * per:.0f} |"
        )
    pairs = [(a, "weak") for a in order if a != "weak" and Arm.parse(a).offset == 0]
    if "action-click:published" in arms:
        pairs += [(a, "action-click:published") for a in order
                  if Arm.parse(a).mode == "bg-click" and Arm.parse(a).offset == 0]  # fmt: skip
    for a in order:
        parsed = Arm.parse(a)
        if parsed.offset:
            pairs.append((a, Arm(parsed.mode, parsed.click_loss, parsed.refine, 0).name))
    lines += [
        "",
        "Paired per-seed differences of the saving (same sim, same test videos; `X@1000 − X` "
        "differs only in the training seed: the noise floor):",
        "",
        "| difference | seeds | per seed (points) | mean ± std | 95 % CI |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for a, b in pairs:
        if a not in arms or b not in arms:
            continue
        seeds, diffs = _paired(arms[a], arms[b], PRIMARY)
        if not seeds:
            continue
        lines.append(
            f"| {a} − {b} | {','.join(map(str, seeds))} | "
            f"{', '.join(f'{100 * d:+.1f}' for d in diffs)} | {_ms(diffs)} | {_ci(diffs)} |"
        )
    lines += [
        "",
        "Sensitivity: the saving (mean ± std over seeds [95 % CI], %) under the other policies "
        "and the strict tolerance, each with its own θ chosen on the held-out fold:",
        "",
        "| arm | " + " | ".join(VARIANTS) + " |",
        "| --- |" + " ---: |" * len(VARIANTS),
    ]
    for arm in order:
        cells = []
        for v in VARIANTS:
            s = [_test_saving(r, v) for r in arms[arm].values()]
            cells.append(f"{_ms(s)} {_ci(s)}")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _verdict(values: Sequence[float]) -> str:
    ci = t_interval(values)
    mean = float(np.mean(values))
    if ci is None:
        return ("holds" if mean >= GOAL else "does not hold") + " (one seed)"
    return "holds" if ci[0] >= GOAL else "does not hold" if ci[1] < GOAL else "unsure"


def goal_lines(table: Table) -> list[str]:
    lines = ["## The goal: ≥ 40 % fewer actions with bg-click's model", ""]
    for version in sorted(table, reverse=True):
        runs = table[version].get(REFERENCE)
        if not runs:
            continue
        s = [_test_saving(runs[k], PRIMARY) for k in sorted(runs)]
        lines.append(
            f"- sim v{version}: {REFERENCE} saves {_ms(s)} % of the actions "
            f"(95 % CI {_ci(s)}, {len(s)} seed(s)): the goal **{_verdict(s)}**."
        )
        for variant in VARIANTS:
            if variant == PRIMARY:
                continue
            s = [_test_saving(runs[k], variant) for k in sorted(runs)]
            lines.append(f"  - policy `{variant}`: {_ms(s)} % (95 % CI {_ci(s)}): {_verdict(s)}.")
    return [*lines, ""]


def plot(version: int, arms: dict[str, dict[int, dict[str, Any]]], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    order = [a for a in sorted(arms, key=_arm_order) if Arm.parse(a).offset == 0]
    colors = dict(zip(order, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 3, strict=False))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.4))
    xs = [1.0 if t is None else t for t in THETAS]  # "show nothing" drawn at θ = 1
    for arm in order:
        runs = list(arms[arm].values())
        curve = np.mean(
            [[saving(r["costs"][PRIMARY]["test"], k) for k in range(len(THETAS))] for r in runs],
            axis=0,
        )
        ax1.plot(xs, 100 * curve, color=colors[arm], label=arm, marker=".")
        for r in runs:
            c = r["costs"][PRIMARY]
            ax1.plot(xs[c["chosen"]], 100 * saving(c["test"], c["chosen"]), "o",
                     color=colors[arm], markerfacecolor="none")  # fmt: skip
    ax1.axhline(100 * GOAL, color="k", ls="--", lw=0.8)
    ax1.set(
        xlabel="θ: shown predictions score ≥ θ (1 = none shown)",
        ylabel="test actions saved vs from scratch (%)",
        title=f"sim v{version}: saving per θ (mean of seeds; ○ = θ chosen on held-out)",
    )
    ax1.set_ylim(bottom=max(-60.0, ax1.get_ylim()[0]))
    width = 0.8 / len(VARIANTS)
    hatches = ("", "//", "..", "xx")
    for i, arm in enumerate(order):
        for j, variant in enumerate(VARIANTS):
            x = i + (j - (len(VARIANTS) - 1) / 2) * width
            s = [100 * _test_saving(r, variant) for r in arms[arm].values()]
            ax2.bar(x, float(np.mean(s)), width, color=colors[arm], alpha=0.6,
                    hatch=hatches[j % len(hatches)], edgecolor="k", linewidth=0.4,
                    label=variant if i == 0 else None)  # fmt: skip
            ax2.plot([x] * len(s), s, "k.", ms=3)
    ax2.axhline(100 * GOAL, color="k", ls="--", lw=0.8, label="goal 40 %")
    ax2.set_xticks(range(len(order)), order, rotation=25, ha="right", fontsize=8)
    ax2.set(ylabel="test actions saved (%)",
            title="at the held-out θ, per policy (bar: mean, dots: seeds)")  # fmt: skip
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def render(payload: dict[str, Any], out_dir: Path, arms: Sequence[str] | None = None) -> str:
    table = summarize(payload, arms)
    parts = ["# Correction cost (bench.correction)", "", *goal_lines(table)]
    for version in sorted(table, reverse=True):
        parts += version_lines(version, table[version])
        png = plot(version, table[version], out_dir / f"correction-v{version}.png")
        if png is not None:
            parts += [f"![correction v{version}]({png.name})", ""]
    return "\n".join(parts)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.correction", description=__doc__.split("\n")[0]
    )
    p.add_argument("--runs", type=Path, nargs="+", required=True, help="bench.click_losses folders")
    p.add_argument("--arms", nargs="+", default=None, help="default: every arm found")
    p.add_argument("--versions", type=int, nargs="+", default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--out-dir", type=Path, default=ROOT / "data" / "bench" / "correction")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runs = [
        r
        for r in collect_runs(args.runs)
        if (args.arms is None or r["arm"] in args.arms)
        and (args.versions is None or r["version"] in args.versions)
        and (args.seeds is None or r["seed"] in args.seeds)
    ]
    if not runs:
        raise SystemExit("no finished run matches (runs.json lists runs once they are done)")
    payload = run_costs(runs, args.out_dir)
    wanted = {_key(r) for r in runs}
    payload = {**payload, "runs": {k: v for k, v in payload["runs"].items() if k in wanted}}
    text = render(payload, args.out_dir)
    (args.out_dir / "report.md").write_text(text)
    print(f"wrote {args.out_dir / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
