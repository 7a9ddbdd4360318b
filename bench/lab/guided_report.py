"""The guided benchmark's report: tables (per arm and round, per training, the simulated
annotation, the must-show goals, click QA, where the clicks lie) and the mAP-against-clicks
plot, from a stored ``guided.json`` payload. Pure functions of stored results."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.lab.annotator import PLACES
from bench.lab.guided import (
    A1_ALL,
    A1_CLICKS,
    A1_QA,
    A1_QA_WEAK,
    ARMS,
    GOAL_CLICKS,
    GOAL_POINTS,
    GUIDED,
    ROUND_ARMS,
    WEAK,
    WEAK_QA,
)
from bench.lab.reports import mean_std


def _pct(values: Sequence[float]) -> str:
    return mean_std(values)


def _rows(payload: dict[str, Any]) -> list[tuple[str, int | None, list[dict[str, Any]]]]:
    """(arm, round, runs over seeds) in table order."""
    runs = payload["runs"]
    rounds = sorted({r["round"] for r in runs if r["arm"] in ROUND_ARMS})
    out: list[tuple[str, int | None, list[dict[str, Any]]]] = []
    groups: list[tuple[str, int | None]] = [(WEAK, 0)]
    groups += [(arm, r) for r in rounds for arm in ROUND_ARMS]
    groups += [(A1_ALL, None), (A1_QA, None), (WEAK_QA, None), (A1_QA_WEAK, None)]
    for arm, r in groups:
        mine = sorted(
            (x for x in runs if x["arm"] == arm and x["round"] == r), key=lambda x: x["seed"]
        )
        if mine:
            out.append((arm, r, mine))
    return out


def summary_table(payload: dict[str, Any]) -> str:
    """Mean ± std over seeds per (arm, round); ``answers``: the guided annotator's answers so
    far (clicks + passes: what the clicks cost in looks at a suggested moment)."""
    annotation = payload.get("annotation", {})

    def answers(seed: int, r: int) -> int:
        return sum(a["answered"] for a in annotation.get(str(seed), []) if a["round"] <= r)

    lines = [
        "| arm | round | seeds | clicks (mean) | answers (mean) | inside GT | mAP@0.5 "
        "| avg 0.1:0.7 |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for arm, r, mine in _rows(payload):
        clicks = np.mean([x["clicks"] for x in mine])
        inside = sum(x["clicks_inside_gt"] for x in mine) / max(1, sum(x["clicks"] for x in mine))
        asked = ""
        if arm == GUIDED and r is not None:
            asked = f"{np.mean([answers(x['seed'], r) for x in mine]):.0f}"
        lines.append(
            f"| {arm} | {'' if r is None else r} | {','.join(str(x['seed']) for x in mine)} | "
            f"{clicks:.0f} | {asked} | {100 * inside:.1f} % | "
            f"{_pct([x['test']['mAP']['0.5'] for x in mine])} | "
            f"{_pct([x['test']['avg_0.1_0.7'] for x in mine])} |"
        )
    return "\n".join(lines)


def per_seed_table(payload: dict[str, Any]) -> str:
    lines = [
        "| seed | arm | round | clicks | trained on | inside GT | mAP@0.5 | avg 0.1:0.7 "
        "| best epoch | wall s | CPU s |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in sorted(payload["runs"], key=lambda x: x["seed"]):
        t = run["test"]
        lines.append(
            f"| {run['seed']} | {run['arm']} | {'' if run['round'] is None else run['round']} | "
            f"{run['clicks']} | {run['clicks_trained']} | {run['clicks_inside_gt']} | "
            f"{100 * t['mAP']['0.5']:.1f} | {100 * t['avg_0.1_0.7']:.1f} | {run['best_epoch']} | "
            f"{run['total_s']:.0f} | {run['cpu_s']:.0f} |"
        )
    return "\n".join(lines)


def annotation_table(payload: dict[str, Any]) -> str:
    cols = [
        "round",
        "target",
        "suggested",
        "suggested_inside_gt",
        "p_error",
        "answered",
        "answered_inside_gt",
        "new_clicks",
        "errors",
        "passes",
        "clicks",
        "new_inside_share",
        "shortfall",
    ]
    lines = ["| seed | " + " | ".join(cols) + " |", "| ---: |" + " ---: |" * len(cols)]
    for seed, stats in sorted(payload.get("annotation", {}).items()):
        for st in stats:
            lines.append(f"| {seed} | " + " | ".join(str(st.get(c)) for c in cols) + " |")
    return "\n".join(lines)


def goals(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's must-show comparisons on mAP@0.5, per seed (scaled to the loaded videos'
    A1 click count when ``--limit`` is used)."""
    out = []
    for seed in sorted({r["seed"] for r in payload["runs"]}):
        by = {(r["arm"], r["round"]): r for r in payload["runs"] if r["seed"] == seed}
        n_a1 = payload.get("a1_clicks", {}).get(str(seed))
        weak, a1 = by.get((WEAK, 0)), by.get((A1_ALL, None))
        guided = sorted(
            (r for (arm, _), r in by.items() if arm == GUIDED), key=lambda r: r["round"]
        )
        if not (n_a1 and weak and a1 and guided):
            continue
        score = {id(r): r["test"]["mAP"]["0.5"] for r in (weak, a1, *guided)}
        limit = round(n_a1 * GOAL_CLICKS / A1_CLICKS)
        small = [r for r in guided if r["clicks"] <= limit]
        if small:
            g = max(small, key=lambda r: r["clicks"])
            out.append(
                {
                    "seed": seed,
                    "goal": f"guided ≤ {limit} clicks ≥ a1-all ({n_a1} clicks)",
                    "guided_clicks": g["clicks"],
                    "delta": score[id(g)] - score[id(a1)],
                    "met": score[id(g)] >= score[id(a1)],
                }
            )
            out.append(
                {
                    "seed": seed,
                    "goal": f"guided ≤ {limit} clicks ≥ weak + 3",
                    "guided_clicks": g["clicks"],
                    "delta": score[id(g)] - score[id(weak)],
                    "met": score[id(g)] >= score[id(weak)] + GOAL_POINTS,
                }
            )
        full = [r for r in guided if r["clicks"] >= n_a1]
        last = full[0] if full else guided[-1]
        out.append(
            {
                "seed": seed,
                "goal": f"guided with {n_a1} clicks ≥ a1-all + 3",
                "guided_clicks": last["clicks"],
                "delta": score[id(last)] - score[id(a1)],
                "met": score[id(last)] >= score[id(a1)] + GOAL_POINTS and last["clicks"] >= n_a1,
            }
        )
    return out


def goals_table(payload: dict[str, Any]) -> str:
    lines = [
        "| seed | goal | guided clicks | Δ mAP@0.5 (points) | met |",
        "| ---: | --- | ---: | ---: | --- |",
    ]
    for g in goals(payload):
        lines.append(
            f"| {g['seed']} | {g['goal']} | {g['guided_clicks']} | {100 * g['delta']:+.1f} | "
            f"{'yes' if g['met'] else 'no'} |"
        )
    return "\n".join(lines)


def qa_table(payload: dict[str, Any]) -> str:
    """Click QA per seed and per QA model: the a1-all model (the product's case: the active
    version was trained on the clicks it checks) and, with ``--qa-weak``, the weak model
    (never saw a click); the mAP change after deleting the flagged clicks."""
    lines = [
        "| seed | QA model | A1 clicks | inside GT | flagged | flagged inside GT | precision "
        "| recall | clicks kept | mAP@0.5 a1-all → without flagged | Δ avg 0.1:0.7 |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]

    def fmt(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.1f} %"

    for seed in sorted({r["seed"] for r in payload["runs"]}):
        by = {(r["arm"], r["round"]): r for r in payload["runs"] if r["seed"] == seed}
        a1 = by.get((A1_ALL, None))
        for source, deleted, label in (
            (A1_ALL, A1_QA, "a1-all (active)"),
            (WEAK_QA, A1_QA_WEAK, "weak (no clicks)"),
        ):
            src, after = by.get((source, None)), by.get((deleted, None))
            if src is None or "qa" not in src:
                continue
            qa = src["qa"]
            change, kept, delta = "", "", ""
            if after is not None and a1 is not None:
                kept = str(after["clicks"])
                change = (
                    f"{100 * a1['test']['mAP']['0.5']:.1f} → "
                    f"{100 * after['test']['mAP']['0.5']:.1f}"
                )
                delta = f"{100 * (after['test']['avg_0.1_0.7'] - a1['test']['avg_0.1_0.7']):+.1f}"
            lines.append(
                f"| {seed} | {label} | {qa['clicks']} | {qa['inside_gt']} | {qa['flagged']} | "
                f"{qa['flagged_inside_gt']} | {fmt(qa['precision'])} | {fmt(qa['recall'])} | "
                f"{kept} | {change} | {delta} |"
            )
    return "\n".join(lines)


def places_table(payload: dict[str, Any]) -> str:
    """Share of each arm's clicks by distance to the nearest GT instance (all seeds)."""
    per_seed = payload.get("places", {})
    totals: dict[str, list[int]] = {}
    for places in per_seed.values():
        for arm, counts in places.items():
            old = totals.get(arm, [0, 0, 0, 0])
            totals[arm] = [a + b for a, b in zip(old, counts, strict=True)]
    lines = ["| clicks | n | " + " | ".join(PLACES) + " |", "| --- | ---: |" + " ---: |" * 4]

    def order(arm: str) -> tuple[int, str]:
        name, _, r = arm.partition(" ")
        return (int(r) if r else 99, name)

    for arm in sorted(totals, key=order):
        counts = totals[arm]
        n = sum(counts)
        shares = " | ".join(f"{100 * c / max(1, n):.1f} %" for c in counts)
        lines.append(f"| {arm} | {n} | {shares} |")
    return "\n".join(lines)


def render(payload: dict[str, Any]) -> str:
    runs = payload["runs"]
    g = payload["settings"]["guided"]
    wall = sum(r["total_s"] for r in runs)
    cpu = sum(r["cpu_s"] for r in runs)
    return "\n".join(
        [
            "# THUMOS14-sim guided-annotation benchmark",
            "",
            f"Command: `{payload['command']}`",
            "",
            f"Settings: {json.dumps(payload['settings'])}; seeds {payload['seeds']}; "
            f"{len(runs)} trainings finished.",
            "",
            f"Simulated annotator: error rate {100 * g['error_rate']:.2f} % "
            f"({g['error_rate_source']}), at most {g['k']} suggestions per video per round; "
            f"A1 clicks per seed {payload.get('a1_clicks')} (snippets "
            f"{payload.get('a1_snippets')}), click targets per round "
            f"{payload.get('targets')}.",
            "",
            "Test mAP (%), mean ± std (ddof 1) over seeds; clicks = background-click snippets "
            "on the training videos (inside GT: their share inside a GT instance):",
            "",
            summary_table(payload),
            "",
            "Must-show goals (mAP@0.5, per seed):",
            "",
            goals_table(payload),
            "",
            "Click QA (flag_click on the a1-all model's training-video predictions, "
            f"min score {g['qa_min_score']}, margin {g['qa_margin_s']} s; no GT check):",
            "",
            qa_table(payload),
            "",
            "Where the clicks are (snippet centres against the GT instances, all seeds):",
            "",
            places_table(payload),
            "",
            "Simulated annotation per round:",
            "",
            annotation_table(payload),
            "",
            "Per training:",
            "",
            per_seed_table(payload),
            "",
            f"Time: {wall / 60:.1f} min of trainings (sum of wall times), {cpu / 60:.1f} CPU min "
            "(process time of the training processes).",
            "",
        ]
    )


def plot_results(payload: dict[str, Any], out_dir: Path) -> Path | None:
    """mAP@0.5 and avg 0.1:0.7 against clicks (mean ± std over seeds); None w/o matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = _rows(payload)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = dict(zip(ARMS, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for ax, (metric, label) in zip(
        axes, ((("mAP", "0.5"), "mAP@0.5"), (("avg_0.1_0.7",), "avg mAP 0.1:0.7")), strict=True
    ):

        def value(run: dict[str, Any], path: tuple[str, ...] = metric) -> float:
            v: Any = run["test"]
            for part in path:
                v = v[part]
            return 100 * float(v)

        for arm in ROUND_ARMS:
            pts = [
                (np.mean([x["clicks"] for x in m]), [value(x) for x in m])
                for a, _, m in rows
                if a == arm
            ]
            if not pts:
                continue
            xs = [p[0] for p in pts]
            means = [np.mean(p[1]) for p in pts]
            stds = [np.std(p[1], ddof=1) if len(p[1]) > 1 else 0.0 for p in pts]
            ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=arm, color=colors[arm])
        for arm, _, m in rows:
            if arm in (WEAK, A1_ALL):
                ax.axhline(np.mean([value(x) for x in m]), ls="--", color=colors[arm], label=arm)
            if arm in (A1_ALL, A1_QA, A1_QA_WEAK):
                ax.plot(
                    np.mean([x["clicks"] for x in m]),
                    np.mean([value(x) for x in m]),
                    marker={A1_ALL: "s", A1_QA: "D", A1_QA_WEAK: "v"}[arm],
                    ls="",
                    color=colors[arm],
                    label=None if arm == A1_ALL else arm,
                )
        ax.set_xlabel("background clicks on the training videos")
        ax.set_ylabel(f"test {label} (%)")
        ax.set_title(f"{label} vs clicks, mean ± std over seeds")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = out_dir / "guided.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
