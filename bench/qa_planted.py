"""Does the product's click QA find gross errors? Background clicks planted ≥ 1 s inside GT
actions at A1's measured error rate, judged by models that never trained on the video
(issue 23 item 3; plan and results: docs/research/qa-planted.md).

Reads the trained runs of ``bench.click_losses`` (``runs.json``, ``preds/<run>-heldout.json``,
the sims under ``sim-v<version>/sim-seed<seed>/``); trains nothing. Per run (arm, sim version,
seed): A1's background clicks on the held-out fold's videos that lie outside every GT instance
(correct clicks) and ``round(ε/(1−ε)·n)`` planted errors (ε: A1's share of clicks inside GT,
from the click file the sim was made from), checked with ``model.suggest.flag_click`` at the
server's default ``BACKTAL_QA_MIN_SCORE`` / ``BACKTAL_QA_MARGIN_S`` against the fold's
predicted segments (every class).

    python -m bench.qa_planted --runs data/bench/noise-floor data/bench/click-losses-v2

Output (``--out-dir``, default data/bench/qa-planted): ``qa_planted.json`` (every judged
click), ``report.md``, ``qa-planted-v<version>.png`` (recall and precision per min score).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.correction import collect_runs, mean_std, t_interval
from bench.lab.click_losses import Arm, load_preds
from model import sim
from model.suggest import activation_at, curve_points, edge_distance, flag_click

ROOT = Path(__file__).resolve().parents[1]
PLANT_SEED = 23
MIN_DEPTH_S = 1.0
REFERENCE = "bg-click:published"
GOAL_RECALL, GOAL_PRECISION = 0.80, 0.50
MIN_SCORES = tuple(round(0.05 * i, 2) for i in range(1, 20))  # the curve: 0.05 … 0.95
DEPTH_BINS = ((1.0, 2.0), (2.0, 4.0), (4.0, math.inf))
LENGTH_BINS = ((2.0, 4.0), (4.0, 8.0), (8.0, 16.0), (16.0, math.inf))
DISTANCE_BINS = ((0.0, 1.0), (1.0, 3.0), (3.0, math.inf))

GTSeg = tuple[float, float, int]
Curves = dict[int, tuple[list[float], list[float]]]  # class → (times_s, activation)
# docs/research/qa-planted.md, amendment 1: the candidates (min activation τ at the click; None:
# none) and how one is chosen (``choose_rule``), fixed before any of them was computed
QA_RULES: dict[str, float | None] = {
    "segment": None,
    "activation ≥ 0": 0.0,
    "activation ≥ 0.25": 0.25,
}
RULE_ARM = "bg-click:published"


def server_defaults() -> tuple[float, float, float | None]:
    """(qa_min_score, qa_margin_s, qa_min_activation) as the server's Settings default them."""
    from server.config import Settings

    fields = Settings.model_fields
    tau = fields["qa_min_activation"].default
    return (
        float(fields["qa_min_score"].default),
        float(fields["qa_margin_s"].default),
        None if tau is None else float(tau),
    )


# ----------------------------------------------------------------------------- pure parts
@dataclass(frozen=True)
class Click:
    video: str
    t_s: float
    planted: bool
    depth_s: float | None = None  # planted: distance to the nearer edge of its instance
    length_s: float | None = None  # planted: length of that instance
    gap_s: float | None = None  # correct: distance to the nearest GT instance


def inside_any(t_s: float, gt: Sequence[GTSeg]) -> bool:
    return any(s <= t_s <= e for s, e, _ in gt)


def gap_to_gt(t_s: float, gt: Sequence[GTSeg]) -> float | None:
    """Distance from ``t_s`` (outside every instance) to the nearest instance; None: none."""
    gaps = [max(s - t_s, t_s - e, 0.0) for s, e, _ in gt]
    return min(gaps) if gaps else None


def planted_count(correct: int, rate: float) -> int:
    """Errors to add to ``correct`` clicks so that ``rate`` of all are errors."""
    return round(rate / (1.0 - rate) * correct)


def eligible_spans(
    gt: Sequence[GTSeg], duration_s: float, depth_s: float = MIN_DEPTH_S
) -> list[tuple[float, float, float, float]]:
    """(from, to, instance start, instance end): the times of each instance, clipped to the
    video, at least ``depth_s`` from both edges (instances too short for that: none)."""
    out = []
    for s, e, _ in gt:
        lo, hi = max(s, 0.0) + depth_s, min(e, duration_s) - depth_s
        if hi > lo:
            out.append((lo, hi, s, e))
    return out


def plant(
    videos: Sequence[tuple[str, float, Sequence[GTSeg]]],
    count: int,
    seed: int,
    depth_s: float = MIN_DEPTH_S,
) -> list[Click]:
    """``count`` moments uniform over the eligible action time of ``videos`` ((name,
    duration, GT)): an instance with probability ∝ its eligible length, then a uniform time
    in it; ``numpy.random.default_rng([PLANT_SEED, seed])``."""
    spans = [
        (name, *span)
        for name, duration, gt in sorted(videos, key=lambda v: v[0])
        for span in eligible_spans(gt, duration, depth_s)
    ]
    if count <= 0 or not spans:
        return []
    rng = np.random.default_rng([PLANT_SEED, seed])
    lengths = np.array([hi - lo for _, lo, hi, _, _ in spans])
    picks = rng.choice(len(spans), size=count, p=lengths / lengths.sum())
    out = []
    for i in picks:
        name, lo, hi, s, e = spans[int(i)]
        t = float(rng.uniform(lo, hi))
        out.append(Click(name, t, True, depth_s=edge_distance(t, s, e)[0], length_s=e - s))
    return out


def cover_score(
    t_s: float, segments: Sequence[tuple[float, float, int, float]], margin_s: float
) -> float:
    """The best score of a predicted segment with ``start + margin ≤ t ≤ end − margin``
    (−1: none). ``flag_click`` at min score s flags the click exactly when this is ≥ s."""
    scores = [sc for a, b, _, sc in segments if a + margin_s <= t_s <= b - margin_s]
    return max(scores) if scores else -1.0


def activation_cover(
    t_s: float,
    segments: Sequence[tuple[float, float, int, float]],
    curves: Curves,
    min_score: float,
    margin_s: float,
) -> float | None:
    """The largest class activation at ``t_s`` among the confident segments that cover it
    (their own class's curve); None: no confident segment covers it. ``flag_click`` with
    ``min_activation`` τ flags the click exactly when this is ≥ τ (classes without a curve
    are not filtered: +inf)."""
    acts = [
        activation_at(t_s, *curves[c]) if c in curves else math.inf
        for a, b, c, sc in segments
        if sc >= min_score and a + margin_s <= t_s <= b - margin_s
    ]
    return max(acts) if acts else None


def f1(recall: float, precision: float) -> float:
    """Harmonic mean of recall and precision (0 when both are 0; nan when either is nan)."""
    if math.isnan(recall) or math.isnan(precision):
        return float("nan")
    return 2 * recall * precision / (recall + precision) if recall + precision > 0 else 0.0


def choose_rule(pooled_f1: dict[int, dict[str, float]]) -> tuple[str, str]:
    """Amendment 1's rule: ``pooled_f1[version][rule]`` (v3 and v2) → (rule, why). The
    candidate with the highest mean F1 over the versions wins if it beats ``segment`` on
    every version; on a tie the smaller τ; otherwise ``segment``."""
    versions = sorted(pooled_f1)
    if not versions or any(set(pooled_f1[v]) != set(QA_RULES) for v in versions):
        raise ValueError(f"every version needs every rule: {pooled_f1}")
    mean = {r: float(np.mean([pooled_f1[v][r] for v in versions])) for r in QA_RULES}
    candidates = [r for r in QA_RULES if r != "segment"]
    best = sorted(candidates, key=lambda r: (-mean[r], QA_RULES[r]))[0]
    beats = all(pooled_f1[v][best] > pooled_f1[v]["segment"] for v in versions)
    cells = ", ".join(f"v{v} {pooled_f1[v][best]:.3f} vs {pooled_f1[v]['segment']:.3f}"
                      for v in versions)  # fmt: skip
    if beats:
        return best, f"`{best}` has the highest mean F1 and beats `segment` on every sim ({cells})"
    return "segment", f"`{best}` (highest mean F1) does not beat `segment` on every sim ({cells})"


def miss_reason(
    t_s: float,
    segments: Sequence[tuple[float, float, int, float]],
    min_score: float,
    margin_s: float,
) -> str | None:
    """Why ``flag_click`` does not flag ``t_s``: no segment covers it (``uncovered``), only
    segments below ``min_score`` do (``low score``), a confident one does but only within the
    margin of its edge (``edge margin``); None when it is flagged."""
    if cover_score(t_s, segments, margin_s) >= min_score:
        return None
    if cover_score(t_s, segments, 0.0) < 0:
        return "uncovered"
    if cover_score(t_s, segments, 0.0) < min_score:
        return "low score"
    return "edge margin"


def a1_clicks(gt_path: Path, clicks_path: Path) -> tuple[dict[str, list[float]], int, int]:
    """A1's background clicks on training videos (a range: its midpoint) per video, and
    (inside GT, all) over every training video."""
    gt = sim.load_gt(gt_path)
    out: dict[str, list[float]] = {}
    inside = total = 0
    for row in sim.read_click_csv(clicks_path):
        video = gt.videos.get(row.vid) or gt.videos.get(Path(row.vid).stem)
        if video is None or video.split != "val" or row.state == "0":
            continue
        if not sim.is_background(row):
            continue
        t = 0.5 * (row.start + row.end)
        total += 1
        inside += any(i.start <= t <= i.end for i in video.instances)
        out.setdefault(video.name, []).append(t)
    return out, inside, total


# ----------------------------------------------------------------------------- driver
@dataclass(frozen=True)
class SimData:
    videos: dict[str, tuple[float, tuple[GTSeg, ...]]]  # name → (duration, GT)
    clicks: dict[str, list[float]]
    inside: int
    total: int

    @property
    def rate(self) -> float:
        return self.inside / self.total


def load_sim(sim_dir: Path, clicks: Path | None) -> SimData:
    """GT of the sim's videos and A1's clicks from the click file the sim was made from
    (``clicks`` overrides the recorded path; its SHA-256 must be the recorded one)."""
    cfg = json.loads((sim_dir / "sim_config.json").read_text())
    path = clicks or Path(cfg["clicks"]["path"])
    if not path.is_file():
        raise SystemExit(f"{path}: the click file of {sim_dir} is not there; pass --clicks")
    if hashlib.sha256(path.read_bytes()).hexdigest() != cfg["clicks"]["sha256"]:
        raise SystemExit(f"{path} is not the click file {sim_dir} was made from")
    gt = sim.load_gt(sim_dir / "gt.json")
    videos = {
        v.name: (v.duration, tuple((i.start, i.end, i.cls) for i in v.instances))
        for v in gt.videos.values()
    }
    by_video, inside, total = a1_clicks(sim_dir / "gt.json", path)
    return SimData(videos, by_video, inside, total)


def heldout_curves(run: dict[str, Any]) -> dict[str, Curves] | None:
    """The activation curves (``model.suggest.curve_points``, as the product stores them) of
    a run's held-out fold, recomputed from its first stage's checkpoint; None when the
    checkpoint is not there. The recomputed segments must equal the stored predictions (for
    arms without a second stage): a check that this is the model that judged."""
    from bench.lab.click_losses import run_id, split_fold
    from bench.lab.sims import load_sim_items
    from model.config import TrainConfig
    from model.train import load_checkpoint, predict

    arm = Arm.parse(run["arm"])
    out = Path(run["dir"])
    ckpt = out / "ckpt" / f"{run_id(arm.first_stage, run['version'], run['seed'])}.pt"
    if not ckpt.is_file():
        return None
    model, _, _, meta = load_checkpoint(ckpt)
    post = TrainConfig.from_dict(meta["train_config"]).post
    sim_dir = out / f"sim-v{run['version']}" / f"sim-seed{run['seed']}"
    train_items, _, _ = load_sim_items(sim_dir, False)
    _, held = split_fold(train_items, run["seed"])
    results = predict(model, held, post)
    if not arm.refine:
        stored = load_preds(out, run["arm"], run["version"], run["seed"], "heldout")
        for name, res in results.items():
            again = [(round(a, 4), round(b, 4), c) for a, b, c, _ in res.segments]
            if again != [(round(a, 4), round(b, 4), c) for a, b, c, _ in stored[name]]:
                raise SystemExit(f"{ckpt} does not reproduce the stored predictions of {name}")
    curves: dict[str, Curves] = {}
    for it in held:
        times, values = curve_points(results[it.name].cas, it.duration)
        curves[it.name] = {c: (list(times), values[c].tolist()) for c in range(values.shape[0])}
    return curves


def judge_run(
    run: dict[str, Any],
    data: SimData,
    min_score: float,
    margin_s: float,
    min_activation: float | None = None,
    curves: dict[str, Curves] | None = None,
) -> dict[str, Any]:
    """Every judged click of one run's held-out fold, with its flag (the given QA settings),
    cover scores and, where ``curves`` are given, the flag of each of ``QA_RULES``."""
    preds = load_preds(Path(run["dir"]), run["arm"], run["version"], run["seed"], "heldout")
    fold = sorted(preds)
    correct = [
        Click(name, t, False, gap_s=gap_to_gt(t, data.videos[name][1]))
        for name in fold
        for t in sorted(data.clicks.get(name, []))
        if not inside_any(t, data.videos[name][1])
    ]
    planted = plant(
        [(n, *data.videos[n]) for n in fold],
        planted_count(len(correct), data.rate),
        run["seed"],
    )
    if min_activation is not None and curves is None:
        raise SystemExit(f"{run['arm']} v{run['version']} s{run['seed']}: QA's min activation "
                         "needs the run's checkpoint (its activation curves); --no-curves "
                         "judges without it")  # fmt: skip
    rows = []
    for click in [*correct, *planted]:
        segs = [(float(a), float(b), int(c), float(s)) for a, b, c, s in preds[click.video]]
        acts = curves.get(click.video) if curves is not None else None
        qa = functools.partial(
            flag_click, click.t_s, segs, min_score=min_score, margin_s=margin_s, activations=acts
        )
        row = {
            **asdict(click),
            "flagged": bool(qa(min_activation=min_activation)),
            "cover": cover_score(click.t_s, segs, margin_s),
            "miss": miss_reason(click.t_s, segs, min_score, margin_s) if click.planted else None,
        }
        if click.planted and row["miss"] is None and not row["flagged"]:
            row["miss"] = "low activation"  # a confident segment, but its class is not active
        if acts is not None:
            row["activation"] = activation_cover(click.t_s, segs, acts, min_score, margin_s)
            row["rules"] = {name: bool(qa(min_activation=tau)) for name, tau in QA_RULES.items()}
        rows.append(row)
    return {
        **run,
        "videos": len(fold),
        "rate": data.rate,
        "min_score": min_score,
        "margin_s": margin_s,
        "min_activation": min_activation,
        "clicks": rows,
    }


def counts(
    rows: Sequence[dict[str, Any]], min_score: float | None = None, rule: str | None = None
) -> dict[str, Any]:
    """Recall, precision and F1 on planted errors (flagged: the stored flag; with another
    ``min_score`` the cover score ≥ it; with ``rule`` that rule's flag)."""

    def hit(r: dict[str, Any]) -> bool:
        if rule is not None:
            return bool(r["rules"][rule])
        return bool(r["flagged"]) if min_score is None else r["cover"] >= min_score

    planted = [r for r in rows if r["planted"]]
    correct = [r for r in rows if not r["planted"]]
    tp = sum(hit(r) for r in planted)
    fp = sum(hit(r) for r in correct)
    recall = tp / len(planted) if planted else float("nan")
    precision = tp / (tp + fp) if tp + fp else float("nan")
    return {
        "planted": len(planted),
        "correct": len(correct),
        "tp": tp,
        "fp": fp,
        "recall": recall,
        "precision": precision,
        "false_flag_rate": fp / len(correct) if correct else float("nan"),
        "f1": f1(recall, precision),
    }


# ----------------------------------------------------------------------------- report
def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.1f}"


def _ms(values: Sequence[float]) -> str:
    vals = [v for v in values if not math.isnan(v)]
    if not vals:
        return "n/a"
    mean, std = mean_std(vals)
    return f"{100 * mean:.1f} ± {100 * std:.1f}" if len(vals) > 1 else f"{100 * mean:.1f}"


def _ci(values: Sequence[float]) -> str:
    """95 % t-interval of a proportion's mean over seeds, clipped to [0, 100] %."""
    ci = t_interval([v for v in values if not math.isnan(v)])
    if ci is None:
        return "—"
    return f"[{100 * max(ci[0], 0.0):.1f}, {100 * min(ci[1], 1.0):.1f}]"


def _bin(value: float, bins: Sequence[tuple[float, float]]) -> str:
    for lo, hi in bins:
        if lo <= value < hi:
            return f"{lo:g}–{hi:g} s" if hi != math.inf else f"≥ {lo:g} s"
    return "other"


def _order(arm: str) -> tuple[int, int, str]:
    parsed = Arm.parse(arm)
    rank = {"weak": 0, "action-click": 1, "bg-click": 2}.get(parsed.mode, 3)
    return parsed.offset, 1 if arm == REFERENCE else rank, arm


Table = dict[int, dict[str, dict[int, dict[str, Any]]]]


def _verdict(recall: Sequence[float], precision: Sequence[float]) -> str:
    r = [v for v in recall if not math.isnan(v)]
    p = [v for v in precision if not math.isnan(v)]
    if not r or not p:
        return "cannot be judged (no flag)"
    rci, pci = t_interval(r), t_interval(p)
    if rci is None or pci is None:
        ok = np.mean(r) >= GOAL_RECALL and np.mean(p) >= GOAL_PRECISION
        return ("holds" if ok else "does not hold") + f" ({len(r)} seed(s), no interval)"
    if rci[0] >= GOAL_RECALL and pci[0] >= GOAL_PRECISION:
        return "holds"
    if rci[1] < GOAL_RECALL or pci[1] < GOAL_PRECISION:
        return "does not hold"
    return "unsure (the interval straddles it)"


def goal_lines(table: Table) -> list[str]:
    lines = ["## The goal: recall ≥ 80 % at precision ≥ 50 % (bg-click's model, defaults)", ""]
    for version in sorted(table, reverse=True):
        runs = table[version].get(REFERENCE)
        if not runs:
            continue
        per = [counts(runs[s]["clicks"]) for s in sorted(runs)]
        rec, prec = [c["recall"] for c in per], [c["precision"] for c in per]
        lines.append(
            f"- sim v{version}: recall {_ms(rec)} % (95 % CI {_ci(rec)}), precision "
            f"{_ms(prec)} % (95 % CI {_ci(prec)}), {len(per)} seed(s): the goal "
            f"**{_verdict(rec, prec)}**."
        )
    return [*lines, ""]


def version_lines(version: int, arms: dict[str, dict[int, dict[str, Any]]]) -> list[str]:
    order = sorted(arms, key=_order)
    any_run = next(iter(next(iter(arms.values())).values()))
    lines = [
        f"## Sim v{version}: held-out folds, min score {any_run['min_score']:g}, margin "
        f"{any_run['margin_s']:g} s",
        "",
        "| arm | seeds | planted / correct per seed | recall per seed (%) | recall mean ± std | "
        "95 % CI | precision per seed (%) | precision mean ± std | 95 % CI | correct clicks "
        "flagged (%) |",
        "| --- | --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for arm in order:
        seeds = sorted(arms[arm])
        per = [counts(arms[arm][s]["clicks"]) for s in seeds]
        rec, prec = [c["recall"] for c in per], [c["precision"] for c in per]
        mix = ", ".join(f"{c['planted']}/{c['correct']}" for c in per)
        lines.append(
            f"| {arm} | {','.join(map(str, seeds))} | {mix} | "
            f"{', '.join(_pct(v) for v in rec)} | {_ms(rec)} | {_ci(rec)} | "
            f"{', '.join(_pct(v) for v in prec)} | {_ms(prec)} | {_ci(prec)} | "
            f"{_ms([c['false_flag_rate'] for c in per])} |"
        )
    if "weak" in arms:
        lines += [
            "",
            "Paired per-seed differences against `weak` (the same clicks; points):",
            "",
            "| difference | seeds | recall per seed | recall mean ± std | precision per seed | "
            "precision mean ± std |",
            "| --- | --- | --- | ---: | --- | ---: |",
        ]
        for arm in order:
            if arm == "weak":
                continue
            seeds = sorted(set(arms[arm]) & set(arms["weak"]))
            if not seeds:
                continue
            a = [counts(arms[arm][s]["clicks"]) for s in seeds]
            b = [counts(arms["weak"][s]["clicks"]) for s in seeds]
            dr = [x["recall"] - y["recall"] for x, y in zip(a, b, strict=True)]
            dp = [x["precision"] - y["precision"] for x, y in zip(a, b, strict=True)]
            lines.append(
                f"| {arm} − weak | {','.join(map(str, seeds))} | "
                f"{', '.join(f'{100 * d:+.1f}' for d in dr)} | {_ms(dr)} | "
                f"{', '.join(_pct(d) if math.isnan(d) else f'{100 * d:+.1f}' for d in dp)} | "
                f"{_ms(dp)} |"
            )
    ref = REFERENCE if REFERENCE in arms else order[0]
    rows = [r for run in arms[ref].values() for r in run["clicks"]]
    planted = [r for r in rows if r["planted"]]
    lines += ["", f"Where `{ref}` misses planted errors (seeds pooled):", ""]
    for title, key, bins in (
        ("depth inside the action", "depth_s", DEPTH_BINS),
        ("length of the action", "length_s", LENGTH_BINS),
    ):
        lines += [f"| {title} | planted | flagged | recall (%) |", "| --- | ---: | ---: | ---: |"]
        for lo, hi in bins:
            sel = [r for r in planted if lo <= r[key] < hi]
            hits = sum(r["flagged"] for r in sel)
            lines.append(
                f"| {_bin(lo, bins)} | {len(sel)} | {hits} | "
                f"{_pct(hits / len(sel) if sel else float('nan'))} |"
            )
        lines.append("")
    missed = [r for r in planted if not r["flagged"]]
    reasons = {
        k: sum(r["miss"] == k for r in missed)
        for k in ("uncovered", "low score", "edge margin", "low activation")
    }
    lines += [
        f"Why the {len(missed)} missed ones were missed: "
        + ", ".join(f"{k} {v}" for k, v in reasons.items())
        + " (uncovered: no predicted segment there; low score: only segments below the min "
        "score; edge margin: a confident segment, but within the margin of its edge; low "
        "activation: a confident segment, but its class's activation at the click is below "
        "the min activation).",
        "",
        f"Where `{ref}`'s false flags are (correct clicks, seeds pooled):",
        "",
        "| distance to the nearest GT action | correct clicks | flagged | flagged (%) |",
        "| --- | ---: | ---: | ---: |",
    ]
    correct = [r for r in rows if not r["planted"] and r["gap_s"] is not None]
    for lo, hi in DISTANCE_BINS:
        sel = [r for r in correct if lo <= r["gap_s"] < hi]
        hits = sum(r["flagged"] for r in sel)
        lines.append(
            f"| {_bin(lo, DISTANCE_BINS)} | {len(sel)} | {hits} | "
            f"{_pct(hits / len(sel) if sel else float('nan'))} |"
        )
    lines += [
        "",
        f"`{ref}` at other min scores, without the activation condition (seeds pooled; a "
        "curve, nothing is chosen on it):",
        "",
        "| min score | recall (%) | precision (%) |",
        "| ---: | ---: | ---: |",
    ]
    for s in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        c = counts(rows, s)
        lines.append(f"| {s:g} | {_pct(c['recall'])} | {_pct(c['precision'])} |")
    return [*lines, ""]


def plot(version: int, arms: dict[str, dict[int, dict[str, Any]]], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    order = [a for a in sorted(arms, key=_order) if Arm.parse(a).offset == 0]
    colors = dict(zip(order, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 3, strict=False))
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.fill_between([100 * GOAL_RECALL, 100], 100 * GOAL_PRECISION, 100, color="g", alpha=0.12,
                    label="goal: recall ≥ 80 %, precision ≥ 50 %")  # fmt: skip
    for arm in order:
        rows = [r for run in arms[arm].values() for r in run["clicks"]]
        pts = [counts(rows, s) for s in MIN_SCORES]
        ax.plot([100 * c["recall"] for c in pts], [100 * c["precision"] for c in pts],
                marker=".", color=colors[arm], label=arm)  # fmt: skip
        d = counts(rows)
        ax.plot(100 * d["recall"], 100 * d["precision"], "o", ms=9, color=colors[arm],
                markerfacecolor="none")  # fmt: skip
        for run in arms[arm].values():
            c = counts(run["clicks"])
            ax.plot(100 * c["recall"], 100 * c["precision"], "x", color=colors[arm], ms=5)
    ax.set(xlim=(0, 100), ylim=(0, 100), xlabel="recall of planted errors (%)",
           ylabel="precision of the flags (%)",
           title=f"sim v{version}: click QA on planted errors (held-out folds)")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(
        fontsize=7,
        title="min score 0.05…0.95, no min activation (○ default rule, × seeds)",
        title_fontsize=7,
        loc="lower left",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def rule_lines(table: Table) -> tuple[list[str], dict[str, Any] | None]:
    """Amendment 1: the candidate rules per sim and arm (seeds pooled and per seed), and the
    choice by ``choose_rule`` on ``RULE_ARM`` (None when a sim or a curve is missing)."""
    lines = [
        "## Amendment 1: the activation at the click (rules judged on the same clicks)",
        "",
        "Pooled over seeds; per seed: mean ± std; Δ: paired per-seed difference against "
        "`segment` (points). Every candidate flags a subset of what `segment` flags.",
        "",
    ]
    pooled: dict[int, dict[str, float]] = {}
    for version in sorted(table, reverse=True):
        for arm in sorted(table[version], key=_order):
            runs = table[version][arm]
            seeds = sorted(runs)
            if not all(all("rules" in r for r in runs[s]["clicks"]) for s in seeds):
                lines += [f"- v{version} {arm}: no activation curves (checkpoint missing)", ""]
                continue
            rows = [r for s in seeds for r in runs[s]["clicks"]]
            lines += [
                f"**sim v{version}, `{arm}`** (seeds {','.join(map(str, seeds))})",
                "",
                "| rule | recall (%) | precision (%) | F1 (%) | F1 per seed | ΔF1 per seed | "
                "errors lost | false flags removed |",
                "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
            ]
            base = counts(rows, rule="segment")
            base_seed = [counts(runs[s]["clicks"], rule="segment")["f1"] for s in seeds]
            for rule in QA_RULES:
                c = counts(rows, rule=rule)
                per = [counts(runs[s]["clicks"], rule=rule)["f1"] for s in seeds]
                delta = [a - b for a, b in zip(per, base_seed, strict=True)]
                lines.append(
                    f"| {rule} | {_pct(c['recall'])} | {_pct(c['precision'])} | "
                    f"{_pct(c['f1'])} | {_ms(per)} | "
                    f"{', '.join(f'{100 * d:+.1f}' for d in delta)} | "
                    f"{base['tp'] - c['tp']} of {base['tp']} | {base['fp'] - c['fp']} of "
                    f"{base['fp']} |"
                )
                if arm == RULE_ARM:
                    pooled.setdefault(version, {})[rule] = c["f1"]
            lines.append("")
    choice = None
    if set(pooled) >= {2, 3}:
        rule, why = choose_rule({v: pooled[v] for v in (2, 3)})
        choice = {"rule": rule, "min_activation": QA_RULES[rule], "why": why, "pooled_f1": pooled}
        lines += [f"**Choice (amendment 1's rule, `{RULE_ARM}`):** `{rule}` — {why}.", ""]
    else:
        lines += [f"No choice: amendment 1 needs `{RULE_ARM}` on sims v3 and v2.", ""]
    return lines, choice


def activation_plot(version: int, runs: dict[int, dict[str, Any]], path: Path) -> Path | None:
    """Where the model's activation stands at the clicks ``segment`` flags: planted errors
    vs correct clicks, with the candidate thresholds."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [r for run in runs.values() for r in run["clicks"] if r.get("activation") is not None]
    rows = [r for r in rows if math.isfinite(r["activation"])]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    bins = [float(x) for x in np.linspace(-1.0, 1.0, 41)]
    for planted, label, color in ((True, "planted errors", "C3"), (False, "correct clicks", "C0")):
        vals = [np.clip(r["activation"], -1, 1) for r in rows if r["planted"] == planted]
        ax.hist(vals, bins=bins, alpha=0.55, color=color, label=f"{label} ({len(vals)})")
    for name, tau in QA_RULES.items():
        if tau is not None:
            ax.axvline(tau, color="k", ls="--", lw=1)
            ax.text(tau, ax.get_ylim()[1] * 0.97, f" {name} ", fontsize=7, va="top",
                    ha="right", rotation=90)  # fmt: skip
    ax.set(
        xlabel="class activation at the click (normalised CAS, clipped to [−1, 1])",
        ylabel="clicks inside a confident segment",
        title=f"sim v{version}, {RULE_ARM}: what `segment` flags (held-out, seeds pooled)",
    )
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def render(runs: Sequence[dict[str, Any]], out_dir: Path) -> str:
    table: Table = {}
    for run in runs:
        table.setdefault(run["version"], {}).setdefault(run["arm"], {})[run["seed"]] = run
    first = runs[0]
    parts = [
        "# Click QA on planted errors (bench.qa_planted)",
        "",
        f"A1's error rate ε = {first['rate']:.4f}; planted ≥ {MIN_DEPTH_S:g} s inside GT "
        f"actions (seeded, `PLANT_SEED` {PLANT_SEED}); QA: `flag_click`, min score "
        f"{first['min_score']:g}, margin {first['margin_s']:g} s, min activation "
        + ("none" if first["min_activation"] is None else f"{first['min_activation']:g}")
        + ".",
        "",
        *goal_lines(table),
    ]
    for version in sorted(table, reverse=True):
        parts += version_lines(version, table[version])
        png = plot(version, table[version], out_dir / f"qa-planted-v{version}.png")
        if png is not None:
            parts += [f"![qa planted v{version}]({png.name})", ""]
    lines, choice = rule_lines(table)
    parts += lines
    for version in sorted(table, reverse=True):
        if RULE_ARM in table[version]:
            png = activation_plot(version, table[version][RULE_ARM],
                                  out_dir / f"qa-activation-v{version}.png")  # fmt: skip
            if png is not None:
                parts += [f"![activation at flagged clicks v{version}]({png.name})", ""]
    if choice is not None:
        (out_dir / "rule_choice.json").write_text(json.dumps(choice, indent=1))
    return "\n".join(parts)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.qa_planted", description=__doc__.split("\n")[0]
    )
    p.add_argument("--runs", type=Path, nargs="+", required=True, help="bench.click_losses folders")
    p.add_argument("--arms", nargs="+", default=None, help="default: every arm found")
    p.add_argument("--versions", type=int, nargs="+", default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--clicks", type=Path, default=None, help="default: the sim's click file")
    p.add_argument("--out-dir", type=Path, default=ROOT / "data" / "bench" / "qa-planted")
    p.add_argument(
        "--no-curves",
        action="store_true",
        help="judge without activation curves: no min activation, no amendment 1 rules (the "
        "curves rerun each first stage on its held-out fold from its checkpoint)",
    )
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
    min_score, margin_s, min_activation = server_defaults()
    if args.no_curves:
        min_activation = None  # the product's rule needs the curves: judged without it
    sims: dict[tuple[str, int, int], SimData] = {}
    judged = []
    runs.sort(key=lambda r: (r["dir"], r["version"], r["seed"], r["arm"]))  # one sim at a time
    for run in runs:
        key = (run["dir"], run["version"], run["seed"])
        if key not in sims:
            sim_dir = Path(run["dir"]) / f"sim-v{run['version']}" / f"sim-seed{run['seed']}"
            sims[key] = load_sim(sim_dir, args.clicks)
        curves = None if args.no_curves else heldout_curves(run)
        judged.append(judge_run(run, sims[key], min_score, margin_s, min_activation, curves))
        print(
            f"judged {run['arm']} v{run['version']} s{run['seed']}"
            + ("" if curves is not None else " (no activation curves)"),
            flush=True,
        )
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "qa_planted.json").write_text(json.dumps({"runs": judged}))
    (args.out_dir / "report.md").write_text(render(judged, args.out_dir))
    print(f"wrote {args.out_dir / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
