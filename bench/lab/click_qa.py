"""The click-QA benchmark (the command: ``python -m bench.click_qa``): which model and which
signal find annotator A1's clicks that lie inside GT actions, with a rule chosen on one half
of the training videos and reported on the other?

Per seed s (sim seed s = training seed s):

* sources: ``weak`` (no click), ``active`` (every A1 click; what the product checks with),
  ``xfit`` (cross-fitted: ``bg-click`` trained with the clicks of one fold of the training
  videos only, checking the other fold's clicks), and the ceiling ``upper-xfit`` (the fully
  supervised snippet classifier trained on one fold's GT, checking the other fold);
* signals at each click's snippet (:func:`click_signals`): ``seg_m0``/``seg_m0.2``/``seg_m0.5``
  (the best score of a predicted segment containing the click with that margin in seconds;
  the product's rule is ``seg_m0.2 >= 0.5``), ``cas`` (highest normalised CAS of the video's
  labelled classes), ``fg_base``, ``fg_filter``, ``fg_mean`` (BackTAL's two foreground
  beliefs and their mean; the upper bound: ``fg`` = 1 - p(background));
* the rule (source, signal, threshold) is chosen on the dev fold's clicks (fold 0, all seeds
  pooled) by :func:`choose_rule` among the product-realisable sources, then scored on the
  report fold (fold 1) per seed; finally ``bg-click`` is retrained without the rule's flags
  (``a1-qa``) and its test mAP is set beside ``active``'s.

Folds: :func:`fold_of` = crc32("qa-fold:" + name) % 2, the same for every seed (the flag-depth
study uses them too). Nothing is chosen on the report fold or the test split; epochs are
chosen on held-out training videos. Plan and results: docs/research/guided.md, "Click QA,
second attempt".
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.lab.resume import run_pending, stored_payload, write_json
from bench.lab.settings import UPPER, Settings
from bench.lab.sims import ensure_sim, load_sim_items, metadata_items
from bench.lab.training import (
    configs,
    evaluate_test,
    localize_all,
    outputs_backtal,
    outputs_upper,
    with_clicks,
)
from model.branches import foreground_beliefs
from model.data import VideoItem
from model.suggest import edge_distance, snippet_times
from model.train import fit, predict
from model.upper_bound import fit_upper

WEAK, ACTIVE, XFIT, UPPER_XFIT, A1_QA = "weak", "active", "xfit", "upper-xfit", "a1-qa"
SOURCES = (WEAK, ACTIVE, XFIT, UPPER_XFIT)
PRODUCT_SOURCES = (WEAK, ACTIVE, XFIT)  # what the product could run (no GT)
MARGINS_S = (0.0, 0.2, 0.5)
SIGNALS = (*(f"seg_m{m:g}" for m in MARGINS_S), "cas", "fg_base", "fg_filter", "fg_mean")
UPPER_SIGNALS = (*(f"seg_m{m:g}" for m in MARGINS_S), "cas", "fg")
DEV, REPORT = 0, 1
DEPTH_BINS = ((0.0, 0.25), (0.25, 0.5), (0.5, 1.0), (1.0, math.inf))


# ----------------------------------------------------------------------------- pure parts
def fold_of(name: str) -> int:
    """0 (dev) or 1 (report): a fixed hash of the video name, the same for every seed."""
    return zlib.crc32(f"qa-fold:{name}".encode()) % 2


def depth_inside(t_s: float, gt: Sequence[tuple[float, float, int]] | None) -> float | None:
    """How far ``t_s`` lies inside the GT instance containing it (distance to its nearer
    edge; the deepest if several contain it); None outside every instance."""
    depths = [edge_distance(t_s, a, b)[0] for a, b, _ in gt or () if a <= t_s <= b]
    return max(depths) if depths else None


def click_signals(
    t_s: float,
    snippet: int,
    segments: Sequence[tuple[float, float, int, float]],
    cas: np.ndarray,
    labels: np.ndarray,
    fg: dict[str, np.ndarray],
) -> dict[str, float]:
    """The signals of one click (module docstring). ``cas`` (C, T); ``labels`` (C,) 0/1 (no
    label: every class counts); ``fg``: named per-snippet foreground curves (T,)."""
    out = {}
    for m in MARGINS_S:
        inside = [s for a, b, _, s in segments if a + m <= t_s <= b - m]
        out[f"seg_m{m:g}"] = float(max(inside, default=0.0))
    classes = np.flatnonzero(labels > 0)
    if classes.size == 0:
        classes = np.arange(cas.shape[0])
    out["cas"] = float(cas[classes, snippet].max())
    for name, curve in fg.items():
        out[name] = float(curve[snippet])
    return out


def precision_recall(
    scores: np.ndarray, truth: np.ndarray, threshold: float
) -> tuple[float | None, float | None, int]:
    """(precision, recall, flags) of flagging ``scores >= threshold`` against ``truth``."""
    flagged = scores >= threshold
    n, hits, pos = int(flagged.sum()), int((flagged & truth).sum()), int(truth.sum())
    return (hits / n if n else None), (hits / pos if pos else None), n


@dataclass(frozen=True)
class Rule:
    source: str
    signal: str
    threshold: float
    precision: float
    recall: float
    flags: int
    criterion: str  # which branch of the choice picked it


def choose_rule(
    candidates: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]],
    min_precision: float = 0.5,
    min_recall: float = 0.7,
    min_flags: int = 10,
) -> Rule | None:
    """The (source, signal, threshold) with the highest recall at precision >= min_precision
    (and >= min_flags flags), ties to the higher precision, then the higher threshold; if no
    candidate reaches min_precision, the highest precision at recall >= min_recall (ties to
    the higher recall). Thresholds: every distinct score. None: nothing qualifies."""
    feasible: list[tuple[tuple[float, ...], Rule]] = []
    fallback: list[tuple[tuple[float, ...], Rule]] = []
    for (source, signal), (scores, truth) in sorted(candidates.items()):
        scores, truth = np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=bool)
        for tau in np.unique(scores):
            p, r, n = precision_recall(scores, truth, float(tau))
            if p is None or r is None or n < min_flags:
                continue
            if p >= min_precision:
                rule = Rule(
                    source, signal, float(tau), p, r, n, f"recall at precision ≥ {min_precision:g}"
                )
                feasible.append(((r, p, float(tau)), rule))
            if r >= min_recall:
                rule = Rule(
                    source, signal, float(tau), p, r, n, f"precision at recall ≥ {min_recall:g}"
                )
                fallback.append(((p, r, float(tau)), rule))
    pool = feasible or fallback
    if not pool:
        return None
    return max(pool, key=lambda kv: kv[0])[1]


def best_at_precision(
    scores: np.ndarray, truth: np.ndarray, min_precision: float = 0.5, min_flags: int = 10
) -> float | None:
    """The threshold of the highest recall at precision >= min_precision (None: none)."""
    rule = choose_rule({("", ""): (scores, truth)}, min_precision, 2.0, min_flags)
    return None if rule is None or not rule.criterion.startswith("recall") else rule.threshold


# ----------------------------------------------------------------------------- one training
def _clicks_of(items: Sequence[VideoItem], fold: int | None) -> dict[str, list[int]]:
    return {
        it.name: it.bg_clicks.tolist() if fold is None or fold_of(it.name) == fold else []
        for it in items
    }


def _signals_backtal(model: Any, items: Sequence[VideoItem], post: Any) -> dict[str, list]:
    preds = predict(model, items, post)
    out = {}
    for it in items:
        p = preds[it.name]
        fg_filter, fg_base = foreground_beliefs(model, it.features)
        fg = {"fg_base": fg_base, "fg_filter": fg_filter, "fg_mean": 0.5 * (fg_base + fg_filter)}
        t = snippet_times(it.num_snippets, it.duration)
        out[it.name] = [
            click_signals(float(t[k]), k, p.segments, p.cas, it.labels, fg)
            for k in it.bg_clicks.tolist()
        ]
    return out


def _signals_upper(model: Any, items: Sequence[VideoItem], post: Any, num_classes: int) -> dict:
    outputs = outputs_upper(model, items, num_classes, torch.device("cpu"))
    segs = localize_all(outputs, items, post)
    out = {}
    for it in items:
        probs = outputs[it.name][0]  # (C, T) class posteriors
        fg = {"fg": probs.sum(0)}  # 1 - p(background)
        t = snippet_times(it.num_snippets, it.duration)
        out[it.name] = [
            click_signals(float(t[k]), k, segs[it.name], probs, it.labels, fg)
            for k in it.bg_clicks.tolist()
        ]
    return out


def train_task(spec: dict[str, Any], settings: Settings, device: str, threads: int) -> dict:
    """One training of ``spec`` and the signals of the clicks it checks (and, for the
    BackTAL click arms, its test scores)."""
    torch.set_num_threads(threads)
    wall, cpu = time.perf_counter(), time.process_time()
    train_items, test_items, names = load_sim_items(Path(spec["sim_dir"]), settings.standardize)
    source, fold = spec["arm"], spec["fold"]
    checked_fold = None if fold is None else 1 - fold
    checked = [it for it in train_items if checked_fold is None or fold_of(it.name) == checked_fold]
    num_classes = len(names)
    run: dict[str, Any] = {"arm": source, "seed": spec["seed"], "fold": fold}
    if source == UPPER_XFIT:
        fold_items = [it for it in train_items if fold_of(it.name) == fold]
        model_config, config = configs(
            UPPER, spec["seed"], settings, fold_items, num_classes, device
        )
        model, best_epoch, _ = fit_upper(config, model_config, fold_items)
        run["signals"] = _signals_upper(model, checked, config.post, num_classes)
    else:
        clicks = spec["clicks"] if spec.get("clicks") is not None else _clicks_of(train_items, fold)
        mode = "weak" if source == WEAK else "bg-click"
        items = with_clicks(train_items, clicks)
        model_config, config = configs(mode, spec["seed"], settings, items, num_classes, device)
        result = fit(config, model_config, items)
        best_epoch = result.best_epoch
        if source != A1_QA:
            run["signals"] = _signals_backtal(result.model, checked, config.post)
        if mode == "bg-click":
            preds = localize_all(outputs_backtal(result.model, test_items), test_items, config.post)
            run["test"] = evaluate_test(preds, test_items)
            run["clicks"] = sum(len(v) for v in clicks.values())
    run["best_epoch"] = best_epoch
    run["total_s"] = round(time.perf_counter() - wall, 1)
    run["cpu_s"] = round(time.process_time() - cpu, 1)
    return run


# ----------------------------------------------------------------------------- analysis
def click_table(items: Sequence[VideoItem]) -> list[dict[str, Any]]:
    """Every A1 click snippet of the training videos: video, snippet, fold, inside GT, depth."""
    rows = []
    for it in items:
        t = snippet_times(it.num_snippets, it.duration)
        for k in it.bg_clicks.tolist():
            depth = depth_inside(float(t[k]), it.gt_segments)
            rows.append(
                {
                    "video": it.name,
                    "snippet": int(k),
                    "fold": fold_of(it.name),
                    "inside": depth is not None,
                    "depth_s": depth,
                }
            )
    return rows


def source_scores(
    payload: dict[str, Any], seed: int, source: str, signal: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(scores, truth, fold) over the seed's clicks, each scored by ``source``'s model that
    checks it (xfit: the other fold's model); None when a training is missing."""
    clicks = payload["clicks"][str(seed)]
    runs = [r for r in payload["runs"] if r["seed"] == seed and r["arm"] == source]
    per_video: dict[str, list[dict[str, float]]] = {}
    for r in runs:
        per_video.update(r["signals"])
    needed = 2 if source in (XFIT, UPPER_XFIT) else 1
    if len(runs) < needed:
        return None
    scores, truth, folds = [], [], []
    index: dict[str, int] = {}
    for c in clicks:
        i = index.get(c["video"], 0)
        index[c["video"]] = i + 1
        scores.append(per_video[c["video"]][i][signal])
        truth.append(c["inside"])
        folds.append(c["fold"])
    return np.array(scores), np.array(truth, dtype=bool), np.array(folds)


def all_seeds_scores(
    payload: dict[str, Any], seeds: Sequence[int], source: str, signal: str
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None:
    """``source_scores`` of every seed; None when one of them is missing."""
    parts = [source_scores(payload, s, source, signal) for s in seeds]
    found = [p for p in parts if p is not None]
    return found if len(found) == len(parts) else None


def signals_of(source: str) -> tuple[str, ...]:
    return UPPER_SIGNALS if source == UPPER_XFIT else SIGNALS


def dev_candidates(payload: dict[str, Any]) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """Dev-fold clicks of every seed pooled, per (product source, signal)."""
    out = {}
    for source in PRODUCT_SOURCES:
        for signal in SIGNALS:
            parts = all_seeds_scores(payload, payload["seeds"], source, signal)
            if parts is None:
                return {}
            scores = np.concatenate([p[0][p[2] == DEV] for p in parts])
            truth = np.concatenate([p[1][p[2] == DEV] for p in parts])
            out[(source, signal)] = (scores, truth)
    return out


def unflagged_clicks(
    payload: dict[str, Any], seed: int, rule: dict[str, Any]
) -> dict[str, list[int]]:
    """The seed's A1 clicks minus those the rule flags (both folds)."""
    checked = source_scores(payload, seed, rule["source"], rule["signal"])
    assert checked is not None, "the rule's source has checked every click of the seed"
    scores = checked[0]
    keep: dict[str, list[int]] = {}
    for c, s in zip(payload["clicks"][str(seed)], scores, strict=True):
        keep.setdefault(c["video"], [])
        if s < rule["threshold"]:
            keep[c["video"]].append(c["snippet"])
    return keep


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def report_tables(payload: dict[str, Any]) -> str:
    rule = payload.get("rule")
    lines = []
    seeds = payload["seeds"]
    if rule is not None:
        lines += [
            f"**Chosen on the dev fold** ({rule['criterion']}): source `{rule['source']}`, "
            f"signal `{rule['signal']}` ≥ {rule['threshold']:.4f} — dev precision "
            f"{_fmt(rule['precision'])}, recall {_fmt(rule['recall'])}, {rule['flags']} flags "
            f"(chosen at {rule['chosen_at']}).",
            "",
            "Report fold, the chosen rule:",
            "",
            "| seed | clicks | inside GT | flagged | precision | recall |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for seed in seeds:
            sc = source_scores(payload, seed, rule["source"], rule["signal"])
            if sc is None:
                continue
            s, t, f = (a[sc[2] == REPORT] for a in sc)
            p, r, n = precision_recall(s, t, rule["threshold"])
            lines.append(f"| {seed} | {len(s)} | {int(t.sum())} | {n} | {_fmt(p)} | {_fmt(r)} |")
        lines.append("")
    lines += [
        "Every source and signal, each at its own best dev threshold (highest dev recall at dev "
        "precision ≥ 50 %; analysis, not a choice), scored on the report fold (seeds pooled):",
        "",
        "| source | signal | threshold | dev P | dev R | report P | report R | report flags |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for source in SOURCES:
        for signal in signals_of(source):
            parts = all_seeds_scores(payload, seeds, source, signal)
            if parts is None:
                continue
            s = np.concatenate([p[0] for p in parts])
            t = np.concatenate([p[1] for p in parts])
            f = np.concatenate([p[2] for p in parts])
            tau = best_at_precision(s[f == DEV], t[f == DEV])
            if tau is None:
                lines.append(f"| {source} | {signal} | none ≥ 50 % | | | | | |")
                continue
            dp, dr, _ = precision_recall(s[f == DEV], t[f == DEV], tau)
            rp, rr, rn = precision_recall(s[f == REPORT], t[f == REPORT], tau)
            lines.append(
                f"| {source} | {signal} | {tau:.4f} | {_fmt(dp)} | {_fmt(dr)} | {_fmt(rp)} | "
                f"{_fmt(rr)} | {rn} |"
            )
    lines += ["", "Where A1's clicks inside GT lie (seed 0's snippets), and recall by depth:", ""]
    clicks0 = payload["clicks"][str(seeds[0])]
    depths = np.array([c["depth_s"] for c in clicks0 if c["inside"]], dtype=np.float64)
    header = "| depth inside the instance | " + " | ".join(
        f"{a:g}–{b:g} s" if b != math.inf else f"≥ {a:g} s" for a, b in DEPTH_BINS
    )
    lines += [header + " |", "| --- |" + " ---: |" * len(DEPTH_BINS)]
    lines.append(
        "| A1 clicks inside GT (all folds) | "
        + " | ".join(str(int(((depths >= a) & (depths < b)).sum())) for a, b in DEPTH_BINS)
        + " |"
    )
    if rule is not None:
        hits = np.zeros(len(DEPTH_BINS))
        totals = np.zeros(len(DEPTH_BINS))
        for seed in seeds:
            sc = source_scores(payload, seed, rule["source"], rule["signal"])
            if sc is None:
                continue
            for c, s in zip(payload["clicks"][str(seed)], sc[0], strict=True):
                if c["inside"] and c["fold"] == REPORT:
                    for j, (a, b) in enumerate(DEPTH_BINS):
                        if a <= c["depth_s"] < b:
                            totals[j] += 1
                            hits[j] += s >= rule["threshold"]
        lines.append(
            "| chosen rule's recall, report fold (seeds pooled) | "
            + " | ".join(_fmt(h / n if n else None) for h, n in zip(hits, totals, strict=True))
            + " |"
        )
    tested = [r for r in payload["runs"] if "test" in r and r["arm"] in (ACTIVE, A1_QA)]
    if tested:
        lines += [
            "",
            "Test mAP@0.5 (%) of `bg-click` on all of A1's clicks and without the chosen rule's "
            "flags:",
            "",
            "| seed | active: clicks | mAP@0.5 | a1-qa: clicks | mAP@0.5 | margin |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        margins = []
        for seed in seeds:
            act = next((r for r in tested if r["seed"] == seed and r["arm"] == ACTIVE), None)
            qa = next((r for r in tested if r["seed"] == seed and r["arm"] == A1_QA), None)
            if act is None or qa is None:
                continue
            ma, mq = 100 * act["test"]["mAP"]["0.5"], 100 * qa["test"]["mAP"]["0.5"]
            margins.append(mq - ma)
            lines.append(
                f"| {seed} | {act['clicks']} | {ma:.1f} | {qa['clicks']} | {mq:.1f} | "
                f"{mq - ma:+.1f} |"
            )
        if margins:
            sd = float(np.std(margins, ddof=1)) if len(margins) > 1 else 0.0
            lines.append(f"| mean ± std | | | | | {np.mean(margins):+.1f} ± {sd:.1f} |")
    return "\n".join(lines) + "\n"


def plot_pr(payload: dict[str, Any], out_dir: Path) -> Path | None:
    """Precision-recall curves of the report fold (seeds pooled), one line per source at
    its best signal on the dev fold; the goal corner marked."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    colours = {WEAK: "tab:blue", ACTIVE: "tab:red", XFIT: "tab:green", UPPER_XFIT: "black"}
    styles = {"seg_m0.2": ":", "cas": "-", "fg_mean": "--", "fg": "--"}
    for ax, fold, title in ((axes[0], DEV, "dev fold (choice)"), (axes[1], REPORT, "report fold")):
        for source in SOURCES:
            for signal in signals_of(source):
                if signal not in styles:
                    continue
                parts = all_seeds_scores(payload, payload["seeds"], source, signal)
                if parts is None:
                    continue
                s = np.concatenate([p[0][p[2] == fold] for p in parts])
                t = np.concatenate([p[1][p[2] == fold] for p in parts])
                order = np.argsort(-s, kind="stable")
                hits = np.cumsum(t[order])
                prec = hits / np.arange(1, len(s) + 1)
                rec = hits / max(1, t.sum())
                ax.plot(
                    rec,
                    prec,
                    label=f"{source}: {signal}",
                    lw=1.2,
                    color=colours[source],
                    ls=styles[signal],
                )
        ax.axvline(0.7, color="k", ls=":", lw=0.8)
        ax.axhline(0.5, color="k", ls=":", lw=0.8)
        ax.set_xlabel("recall (A1 clicks inside GT)")
        ax.set_ylabel("precision")
        ax.set_ylim(0, 1)
        ax.set_title(title)
    axes[1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path = out_dir / "click_qa.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- the loop
def _specs(
    payload: dict[str, Any], sim_dirs: dict[int, Path], arms: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The trainings still to run (``arms``: only these; None: every source and a1-qa)."""
    done = {(r["arm"], r["seed"], r["fold"]) for r in payload["runs"]}
    out = []
    for seed, sim_dir in sim_dirs.items():
        wanted = [
            (WEAK, None),
            (ACTIVE, None),
            (XFIT, 0),
            (XFIT, 1),
            (UPPER_XFIT, 0),
            (UPPER_XFIT, 1),
        ]
        if payload.get("rule") is not None:
            wanted.append((A1_QA, None))
        for arm, fold in wanted:
            if (arm, seed, fold) in done or (arms is not None and arm not in arms):
                continue
            spec = {"arm": arm, "seed": seed, "fold": fold, "sim_dir": str(sim_dir)}
            if arm == A1_QA:
                spec["clicks"] = unflagged_clicks(payload, seed, payload["rule"])
            out.append(spec)
    order = {UPPER_XFIT: 0, XFIT: 1, WEAK: 2, ACTIVE: 3, A1_QA: 4}
    return sorted(out, key=lambda s: (order[s["arm"]], s["seed"], s["fold"] or 0))


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
    min_flags: int = 10,
    arms: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Every training not yet in ``out_dir/click_qa.json``; the rule is chosen (once, stored)
    as soon as every product source has checked every seed's dev fold. ``min_flags``: the
    fewest flags a rule may raise on the dev fold (10 in the plan; smaller for tiny tests).
    ``arms``: train only these (e.g. the cheap ``upper-xfit`` ceiling first); which trainings
    run, not what they compute: not part of the results key."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "click_qa.json", out_dir / "click_qa.md"
    key = {**settings.key(), "bench": "click_qa/1"}
    payload: dict[str, Any] = {"settings": key, "runs": [], "clicks": {}}
    payload = stored_payload(json_path, key, log) or payload
    payload.update(seeds=list(settings.seeds), command=command, device=device)
    sim_dirs = {}
    for seed in settings.seeds:
        sim_dirs[seed] = ensure_sim(settings, gt, clicks, seed, out_dir, log)
        items = metadata_items(sim_dirs[seed])
        payload["clicks"][str(seed)] = click_table(items)
    started = time.perf_counter()

    def save() -> None:
        write_json(json_path, payload)
        md_path.write_text(render(payload))

    def finished(run: dict[str, Any]) -> None:
        payload["runs"].append(run)
        extra = f", test mAP@0.5 {100 * run['test']['mAP']['0.5']:.1f}" if "test" in run else ""
        log(
            f"[{len(payload['runs'])}] seed {run['seed']} {run['arm']} fold {run['fold']}: "
            f"epoch {run['best_epoch']}{extra} ({run['total_s']:.0f} s; elapsed "
            f"{(time.perf_counter() - started) / 60:.1f} min)"
        )
        maybe_choose()
        save()

    def maybe_choose() -> None:
        if payload.get("rule") is not None:
            return
        candidates = dev_candidates(payload)
        if not candidates:
            return
        rule = choose_rule(candidates, min_flags=min_flags)
        if rule is None:
            payload["rule"] = None
            log("no rule qualifies on the dev fold")
            return
        payload["rule"] = {
            **rule.__dict__,
            "chosen_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        log(
            f"rule chosen on the dev fold: {rule.source} {rule.signal} >= {rule.threshold:.4f} "
            f"(dev precision {100 * rule.precision:.1f} %, recall {100 * rule.recall:.1f} %, "
            f"{rule.flags} flags; {rule.criterion})"
        )

    maybe_choose()

    def spec_key(spec: dict[str, Any]) -> tuple[str, int, int | None]:
        return spec["arm"], spec["seed"], spec["fold"]

    run_pending(
        lambda busy: [s for s in _specs(payload, sim_dirs, arms) if spec_key(s) not in busy],
        spec_key,
        train_task,
        (settings, device, threads),
        finished,
        jobs,
        log,
        lambda s: f"seed {s['seed']} {s['arm']} fold {s['fold']}",
    )
    save()
    path = plot_pr(payload, out_dir)
    if path is not None:
        log(f"wrote {path}")
    return payload


def render(payload: dict[str, Any]) -> str:
    return (
        "# Click QA on THUMOS14-sim: cross-fitted sources, snippet signals\n\n"
        f"`{payload.get('command', '')}` — seeds {payload['seeds']}; the rule is chosen on the dev "
        "fold (fold 0) and reported on fold 1 (docs/research/guided.md).\n\n"
        + report_tables(payload)
    )
