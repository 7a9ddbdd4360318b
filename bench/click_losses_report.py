"""Tables, margins, the noise floor and plots of ``bench.click_losses`` runs.

``render(out_dirs, "heldout")`` reads only the held-out folds (what choices are made on);
``render(out_dirs, "test")`` adds the test split. An arm's number is the mean over seeds of
its per-seed mAP (each seed's fold, or test split, scored by that seed's own model); a margin
is the mean of the per-seed paired differences, with a 95 % interval from a two-level
bootstrap (seeds, then videos within each seed: :func:`bench.stats.hierarchical_bootstrap`).
(Pooling the predictions of 5 different models into one AP, the first design, mixes their
score scales: docs/research/click-losses.md, amendment 1.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import stats
from bench.lab.click_losses import Arm, load_gt, load_preds

DRAWS = 1000
REFERENCE = "bg-click:published"


def _runs(out_dirs: Sequence[Path]) -> list[dict[str, Any]]:
    """Every run of every folder (a run keeps the folder its predictions are in); the same
    (arm, version, seed) twice is an error."""
    runs: list[dict[str, Any]] = []
    seen: set[tuple[str, int, int]] = set()
    for out_dir in out_dirs:
        for run in json.loads((out_dir / "runs.json").read_text())["runs"]:
            key = (run["arm"], run["version"], run["seed"])
            if key in seen:
                raise ValueError(f"{key} is in more than one of {list(map(str, out_dirs))}")
            seen.add(key)
            runs.append({**run, "dir": str(out_dir)})
    return runs


def _by(runs: Sequence[dict[str, Any]]) -> dict[tuple[str, int, int], dict[str, Any]]:
    return {(r["arm"], r["version"], r["seed"]): r for r in runs}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _ms(values: Sequence[float]) -> str:
    mean, std = stats.mean_std([100 * v for v in values])
    return f"{mean:.1f} ± {std:.1f}" if len(values) > 1 else f"{mean:.1f}"


def _signed(values: Sequence[float]) -> str:
    return ", ".join(f"{100 * v:+.1f}" for v in values)


class Pool:
    """Predictions, GT and their matches per (arm, version, seed), loaded once."""

    def __init__(self, runs: Sequence[dict[str, Any]], split: str) -> None:
        self.split = split
        self.dirs = {(r["arm"], r["version"], r["seed"]): Path(r["dir"]) for r in runs}
        self._gt: dict[tuple[int, int], dict[str, list]] = {}
        self._preds: dict[tuple[str, int, int], dict[str, list]] = {}
        self._matches: dict[tuple[str, int, int], stats.Matches] = {}

    def gt(self, version: int, seed: int) -> dict[str, list]:
        if (version, seed) not in self._gt:
            where = next(d for (_, v, s), d in self.dirs.items() if (v, s) == (version, seed))
            self._gt[version, seed] = load_gt(where, version, seed, None)
        return self._gt[version, seed]

    def preds(self, arm: str, version: int, seed: int) -> dict[str, list]:
        key = (arm, version, seed)
        if key not in self._preds:
            where = self.dirs[key]
            self._preds[key] = load_preds(where, arm, version, seed, self.split)
        return self._preds[key]

    def matches(self, arm: str, version: int, seed: int) -> stats.Matches:
        """One seed's predictions of ``arm`` matched against that seed's GT (its videos)."""
        key = (arm, version, seed)
        if key not in self._matches:
            p = self.preds(arm, version, seed)
            full = self.gt(version, seed)
            self._matches[key] = stats.match_all({n: full[n] for n in p}, p)
        return self._matches[key]


def _seeds_of(by: dict[tuple[str, int, int], dict[str, Any]], arm: str, version: int) -> list[int]:
    return sorted(s for (a, v, s) in by if a == arm and v == version)


def arm_table(
    runs: Sequence[dict[str, Any]], pool: Pool, version: int, arms: Sequence[str]
) -> list[str]:
    by = _by(runs)
    split = pool.split
    lines = [
        "| arm | seeds | mean ± std mAP@0.5 | mean ± std avg 0.1:0.7 | per seed mAP@0.5 "
        "| best epochs |",
        "| --- | --- | ---: | ---: | --- | --- |",
    ]
    for arm in arms:
        seeds = _seeds_of(by, arm, version)
        if not seeds:
            continue
        at05 = [by[arm, version, s][split]["mAP"]["0.5"] for s in seeds]
        avg = [by[arm, version, s][split]["avg_0.1_0.7"] for s in seeds]
        epochs = ", ".join(str(by[arm, version, s]["best_epoch"]) for s in seeds)
        lines.append(
            f"| {arm} | {','.join(map(str, seeds))} | {_ms(at05)} | {_ms(avg)} | "
            f"{', '.join(_pct(v) for v in at05)} | {epochs} |"
        )
    return lines


def margin(
    runs: Sequence[dict[str, Any]], pool: Pool, version: int, a: str, b: str, draws: int = DRAWS
) -> dict[str, Any] | None:
    """a − b on the seeds both have: per-seed paired differences, their mean and its
    two-level bootstrap interval."""
    by = _by(runs)
    seeds = sorted(set(_seeds_of(by, a, version)) & set(_seeds_of(by, b, version)))
    if not seeds:
        return None
    pairs = [(pool.matches(a, version, s), pool.matches(b, version, s)) for s in seeds]
    boot = stats.hierarchical_bootstrap(pairs, draws=draws, seed=version * 100 + len(seeds))
    per_seed = {k: boot[k]["per_seed"] for k in ("0.5", "avg_0.1_0.7")}
    t = {k: stats.t_interval(v) if len(v) > 1 else (v[0], v[0], v[0]) for k, v in per_seed.items()}
    return {"a": a, "b": b, "seeds": seeds, "per_seed": per_seed, "t": t, "bootstrap": boot}


def margin_lines(margins: Sequence[dict[str, Any] | None]) -> list[str]:
    lines = [
        "| margin | seeds | per-seed Δ@0.5 | mean ± std Δ@0.5 | 95 % t-interval | "
        "(two-level bootstrap) | mean ± std Δavg | 95 % t-interval |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in margins:
        if m is None:
            continue
        b05 = m["bootstrap"]["0.5"]
        t05, tavg = m["t"]["0.5"], m["t"]["avg_0.1_0.7"]
        lines.append(
            f"| {m['a']} − {m['b']} | {','.join(map(str, m['seeds']))} | "
            f"{_signed(m['per_seed']['0.5'])} | {_ms(m['per_seed']['0.5'])} | "
            f"[{100 * t05[1]:+.1f}, {100 * t05[2]:+.1f}] | "
            f"([{100 * b05['lo']:+.1f}, {100 * b05['hi']:+.1f}]) | "
            f"{_ms(m['per_seed']['avg_0.1_0.7'])} | [{100 * tavg[1]:+.1f}, {100 * tavg[2]:+.1f}] |"
        )
    return lines


def _passes_rule(rows: dict[int, Any], versions: Sequence[int]) -> bool:
    """The pre-registered rule of both families: Δ ≥ 0 on every version and the t-interval
    above 0 on at least one."""
    return all(rows[v]["diff"] >= 0 for v in versions) and any(rows[v]["lo"] > 0 for v in versions)


def _delta_entry(m: dict[str, Any]) -> dict[str, Any]:
    """A margin's seeds, mean per-seed Δ@0.5 and its t-interval."""
    mean, lo, hi = m["t"]["0.5"]
    return {"seeds": m["seeds"], "diff": mean, "lo": lo, "hi": hi}


def _delta_header(first: str, versions: Sequence[int], tail: Sequence[str]) -> list[str]:
    heads = [first, *(f"Δ v{v} @0.5 [95 % t-interval] (seeds)" for v in versions), *tail]
    return ["| " + " | ".join(heads) + " |", "| --- |" + " ---: |" * (len(heads) - 1)]


def _delta_cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return "–"
    return (
        f"{100 * r['diff']:+.1f} [{100 * r['lo']:+.1f}, {100 * r['hi']:+.1f}] ({len(r['seeds'])})"
    )


def family_decision(
    runs: Sequence[dict[str, Any]], versions: Sequence[int], draws: int = 200
) -> dict[str, Any]:
    """The pre-registered family-1 rule on held-out folds (docs/research/click-losses.md):
    Δ_v(L) = mean per-seed held-out mAP@0.5 of ``bg-click:L`` − ``bg-click:published``;
    L* = argmax min_v Δ_v; adopted when Δ_v(L*) ≥ 0 on every version and the t-interval
    excludes 0 on at least one."""
    pool = Pool(runs, "heldout")
    candidates = sorted(
        {
            r["arm"]
            for r in runs
            if r["arm"].startswith("bg-click:")
            and r["arm"] != REFERENCE
            and not Arm.parse(r["arm"]).refine
            and Arm.parse(r["arm"]).offset == 0
        }
    )
    table: dict[str, dict[int, Any]] = {}
    for cand in candidates:
        for v in versions:
            m = margin(runs, pool, v, cand, REFERENCE, draws)
            if m is not None:
                table.setdefault(cand, {})[v] = _delta_entry(m)
    complete = {c: t for c, t in table.items() if set(t) == set(versions)}
    if not complete:
        return {"table": table, "chosen": None, "adopted": False}
    best = max(complete, key=lambda c: min(complete[c][v]["diff"] for v in versions))
    rows = complete[best]
    adopted = _passes_rule(rows, versions)
    return {"table": table, "chosen": best, "adopted": adopted}


def decision_lines(decision: dict[str, Any], versions: Sequence[int]) -> list[str]:
    lines = _delta_header("candidate", versions, ["min over versions"])
    for cand, rows in decision["table"].items():
        cells = [_delta_cell(rows.get(v)) for v in versions]
        worst = min((rows[v]["diff"] for v in versions if v in rows), default=float("nan"))
        lines.append(f"| {cand} | " + " | ".join(cells) + f" | {100 * worst:+.1f} |")
    chosen = decision["chosen"]
    verdict = (
        "no candidate has both versions yet"
        if chosen is None
        else f"L* = **{chosen.split(':', 1)[1]}**; "
        + ("**adopted** by the rule" if decision["adopted"] else "**not adopted**: studio keeps "
           "`published`")
    )  # fmt: skip
    return [*lines, "", f"Rule (family 1): {verdict}."]


REFINE_REFERENCE = "bg-click:published+refine"


def refine_decision(
    runs: Sequence[dict[str, Any]], versions: Sequence[int], draws: int = 200
) -> dict[str, Any]:
    """The family-2 rule as amendment 3 applies it (docs/research/click-losses.md): the second
    stage joins the studio recipe when ``bg-click:published+refine`` − ``bg-click:published``
    (mean per-seed held-out mAP@0.5) is ≥ 0 on every version and its t-interval excludes 0 on
    at least one; the other ``X+refine`` − ``X`` margins are reported beside it."""
    pool = Pool(runs, "heldout")
    table: dict[str, dict[int, Any]] = {}
    for arm in sorted({r["arm"] for r in runs}):
        parsed = Arm.parse(arm)
        if not parsed.refine or parsed.offset:
            continue
        base = Arm(parsed.mode, parsed.click_loss, False, 0).name
        for v in versions:
            m = margin(runs, pool, v, arm, base, draws)
            if m is not None:
                table.setdefault(arm, {})[v] = {"base": base, **_delta_entry(m)}
    rows = table.get(REFINE_REFERENCE, {})
    if set(rows) != set(versions):
        return {"table": table, "decided": False, "adopted": False}
    adopted = _passes_rule(rows, versions)
    return {"table": table, "decided": True, "adopted": adopted}


def refine_decision_lines(decision: dict[str, Any], versions: Sequence[int]) -> list[str]:
    lines = _delta_header("second stage", versions, [])
    for arm, rows in decision["table"].items():
        cells = [_delta_cell(rows.get(v)) for v in versions]
        base = next(iter(rows.values()))["base"]
        lines.append(f"| {arm} − {base} | " + " | ".join(cells) + " |")
    if not decision["decided"]:
        verdict = f"`{REFINE_REFERENCE}` does not have every version yet"
    elif decision["adopted"]:
        verdict = "the second stage is **adopted** into the studio recipe"
    else:
        verdict = "the second stage is **not adopted**: it stays an option (`second_stage`)"
    return [*lines, "", f"Rule (family 2, amendment 3): {verdict}."]


def per_tiou(
    runs: Sequence[dict[str, Any]], version: int, arms: Sequence[str], split: str = "test"
) -> dict[str, dict[str, list[float]]]:
    """arm -> tIoU -> the per-seed mAP values (fractions)."""
    by = _by(runs)
    out: dict[str, dict[str, list[float]]] = {}
    for arm in arms:
        for s in _seeds_of(by, arm, version):
            for t, value in by[arm, version, s][split]["mAP"].items():
                out.setdefault(arm, {}).setdefault(t, []).append(value)
    return out


def per_tiou_lines(table: dict[str, dict[str, list[float]]]) -> list[str]:
    if not table:
        return []
    tious = sorted(next(iter(table.values())), key=float)
    lines = [
        "| arm | " + " | ".join(f"@{t}" for t in tious) + " |",
        "| --- | " + " | ".join("---:" for _ in tious) + " |",
    ]
    for arm, row in table.items():
        lines.append(f"| {arm} | " + " | ".join(_ms(row[t]) for t in tious) + " |")
    return lines


def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _save(plt: Any, fig: Any, axes: Sequence[Any], path: Path) -> Path:
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def per_tiou_plot(
    table: dict[str, dict[str, list[float]]], path: Path, version: int
) -> Path | None:
    """Test mAP per tIoU, mean ± std over seeds, one line per arm."""
    plt = _pyplot()
    if plt is None:
        return None
    if not table:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for arm, row in table.items():
        tious = sorted(row, key=float)
        mean = np.array([100 * np.mean(row[t]) for t in tious])
        std = np.array([100 * np.std(row[t], ddof=1) if len(row[t]) > 1 else 0 for t in tious])
        x = [float(t) for t in tious]
        ax.plot(x, mean, marker="o", ms=3, label=arm)
        ax.fill_between(x, mean - std, mean + std, alpha=0.15)
    ax.set(xlabel="tIoU", ylabel="test mAP (%)", title=f"sim v{version}: test mAP per tIoU "
           "(mean ± std over seeds)")  # fmt: skip
    return _save(plt, fig, [ax], path)


def fp_breakdown(
    runs: Sequence[dict[str, Any]], pool: Pool, version: int, arms: Sequence[str]
) -> dict[str, dict[str, list[float]]]:
    """DETAD false-positive analysis (``model.analysis``) of each seed's predictions at tIoU
    0.5, top 10G per class: arm -> {true_positive and each error type: per-seed share of the
    analysed predictions}."""
    from model.analysis import false_positive_analysis

    by = _by(runs)
    out: dict[str, dict[str, list[float]]] = {}
    for arm in arms:
        for s in _seeds_of(by, arm, version):
            preds = pool.preds(arm, version, s)
            full = pool.gt(version, s)
            result = false_positive_analysis({n: full[n] for n in preds}, preds)
            for kind, share in result["summary"]["share_of_predictions"].items():
                out.setdefault(arm, {}).setdefault(kind, []).append(share)
    return out


def fp_lines(table: dict[str, dict[str, list[float]]]) -> list[str]:
    if not table:
        return []
    kinds = list(next(iter(table.values())))
    lines = [
        "| arm | " + " | ".join(k.replace("_", " ") for k in kinds) + " |",
        "| --- | " + " | ".join("---:" for _ in kinds) + " |",
    ]
    for arm, row in table.items():
        lines.append(f"| {arm} | " + " | ".join(_ms(row[k]) for k in kinds) + " |")
    return lines


def noise_floor(
    runs: Sequence[dict[str, Any]], pool: Pool, version: int
) -> tuple[list[str], list[dict[str, Any]]]:
    """Pairs that differ only in the training seed (``X`` and ``X@offset``)."""
    arms = sorted({r["arm"] for r in runs if r["version"] == version})
    found = []
    for arm in arms:
        parsed = Arm.parse(arm)
        if parsed.offset == 0:
            continue
        base = Arm(parsed.mode, parsed.click_loss, parsed.refine, 0).name
        m = margin(runs, pool, version, arm, base)
        if m is not None:
            found.append(m)
    lines = margin_lines(found)
    lines += [
        "",
        "| pair | SD of the per-seed Δ@0.5 | seeds for a 2-point paired difference (80 % power, "
        "α 0.05) | smallest difference 5 seeds resolve | 10 seeds |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for m in found:
        sd = float(np.std(np.asarray(m["per_seed"]["0.5"]) * 100, ddof=1))
        lines.append(
            f"| {m['a']} vs {m['b']} | {sd:.2f} | {stats.seeds_needed(sd, 2.0)} | "
            f"{stats.detectable_difference(sd, 5):.1f} | "
            f"{stats.detectable_difference(sd, 10):.1f} |"
        )
    return lines, found


def curves_plot(runs: Sequence[dict[str, Any]], path: Path, version: int) -> Path | None:
    """Held-out avg mAP per epoch, one line per run, coloured by arm."""
    plt = _pyplot()
    if plt is None:
        return None
    mine = [r for r in runs if r["version"] == version and r["history"]]
    if not mine:
        return None
    arms = sorted({r["arm"] for r in mine})
    colors = dict(zip(arms, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 3, strict=False))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    seen: set[str] = set()
    for r in sorted(mine, key=lambda r: (r["arm"], r["seed"])):
        epochs = [h["epoch"] for h in r["history"]]
        label = r["arm"] if r["arm"] not in seen else None
        seen.add(r["arm"])
        ax1.plot(epochs, [h["video_supp"] for h in r["history"]], color=colors[r["arm"]],
                 alpha=0.7, label=label)  # fmt: skip
        ax2.plot(epochs, [100 * h.get("holdout_mAP_0.1_0.7", np.nan) for h in r["history"]],
                 color=colors[r["arm"]], alpha=0.7, label=label)  # fmt: skip
    ax1.set(xlabel="epoch", ylabel="training video_supp", title=f"sim v{version}: training loss")
    ax2.set(xlabel="epoch", ylabel="held-out avg mAP 0.1:0.7 (%)",
            title=f"sim v{version}: held-out fold (one line per seed)")  # fmt: skip
    return _save(plt, fig, [ax1, ax2], path)


def render(
    out_dirs: Sequence[Path], phase: str = "heldout", draws: int = DRAWS, plots: Path | None = None
) -> str:
    """The report of the runs in ``out_dirs``; plots are written to ``plots`` (default: the
    first folder)."""
    runs = _runs(out_dirs)
    plots = plots or out_dirs[0]
    versions = sorted({r["version"] for r in runs}, reverse=True)
    arms = sorted({r["arm"] for r in runs}, key=lambda a: (Arm.parse(a).offset, a))
    parts = [f"# Click losses ({phase})", ""]
    splits = ["heldout"] + (["test"] if phase == "test" else [])
    for version in versions:
        for split in splits:
            pool = Pool(runs, split)
            what = "held-out folds (5 × 40 training videos)" if split == "heldout" else "test"
            parts += [f"## Sim v{version}, {what}", ""]
            parts += arm_table(runs, pool, version, arms)
            parts += ["", "Noise floor (same arm, other training seed):", ""]
            lines, _ = noise_floor(runs, pool, version)
            parts += lines
            others = [a for a in arms if Arm.parse(a).offset == 0]
            wanted = [(a, REFERENCE) for a in others if a != REFERENCE and a != "weak"]
            wanted += [(a, "weak") for a in others if a != "weak"]
            margins = [margin(runs, pool, version, a, b, draws) for a, b in wanted]
            parts += ["", "Paired margins:", "", *margin_lines(margins), ""]
        plot = curves_plot(runs, plots / f"curves-v{version}.png", version)
        if plot is not None:
            parts += [f"![curves v{version}]({plot.name})", ""]
        if phase == "test":
            firsts = [a for a in arms if Arm.parse(a).offset == 0]
            table = per_tiou(runs, version, firsts)
            parts += [f"Sim v{version}, test mAP per tIoU (%), mean ± std over seeds:", ""]
            parts += [*per_tiou_lines(table), ""]
            plot = per_tiou_plot(table, plots / f"per-tiou-v{version}.png", version)
            if plot is not None:
                parts += [f"![per tIoU v{version}]({plot.name})", ""]
            fp = fp_breakdown(runs, Pool(runs, "test"), version, firsts)
            parts += [
                f"Sim v{version}, test, DETAD breakdown at tIoU 0.5 (top 10G predictions per "
                "class; share of the analysed predictions, %, mean ± std over seeds):",
                "",
                *fp_lines(fp),
                "",
            ]
    decision = family_decision(runs, versions, draws=min(draws, 200))
    parts += ["## Family 1: the choice on held-out folds", "", *decision_lines(decision, versions)]
    (plots / "decision-family1.json").write_text(json.dumps(decision, indent=1))
    second = refine_decision(runs, versions, draws=min(draws, 200))
    parts += ["", "## Family 2: the second stage on held-out folds", ""]
    parts += refine_decision_lines(second, versions)
    (plots / "decision-family2.json").write_text(json.dumps(second, indent=1))
    return "\n".join(parts)
