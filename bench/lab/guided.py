"""The guided-annotation benchmark (the command: ``python -m bench.guided``): do suggested
background clicks buy more test mAP per click than the human's clicks, or than random
background moments? And does click QA find the human's wrong clicks?

Per seed s (sim seed s = training seed s):

1. round 0: train ``weak`` (video labels only) on the 'val' split;
2. round r = 1..R: the latest model predicts on the training videos, ``model.suggest.
   rank_suggestions`` ranks up to ``k`` moments per video, the simulated annotator
   (``bench.lab.annotator``) answers them until the cumulative click count reaches the round's
   target (fractions of A1's click count), then ``bg-click`` is retrained on all guided clicks
   so far and evaluated on the test split;
3. at every round's click count (or the ``baseline_rounds``), two baselines: ``a1-subset`` (a
   seeded subset of A1's real clicks of the same size) and ``random-bg`` (uniform background
   snippets, the same number per video as the guided clicks);
4. references: ``weak`` (round 0) and ``a1-all`` (every A1 click);
5. click QA: ``model.suggest.flag_click`` checks each A1 click against the ``a1-all`` model's
   predictions on the training videos (no GT check: GT is what the flags are scored against);
   ``a1-qa`` retrains without the flagged clicks (``qa_weak``: the same with the weak model).

Nothing is selected on the test split: epochs are chosen on held-out training videos by
``model.train.fit``; the schedule, ``k``, the error rate and the QA thresholds are fixed
before a run and stored with the results. The training recipe is the settings' (a named
``model.recipes`` recipe, or the legacy one of the tables in docs/research/guided.md).
Report: ``bench.lab.guided_report``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.lab.annotator import (
    RoundState,
    a1_clicks,
    a1_error_rate,
    a1_rows,
    a1_subset,
    centre,
    click_places,
    inside_gt,
    random_background,
    simulate_round,
)
from bench.lab.resume import run_pending, stored_payload, write_json
from bench.lab.settings import ALL_MODES, Settings, settings_from_args
from bench.lab.sims import ensure_sim, load_sim_items, metadata_items
from bench.lab.training import (
    Clicks,
    configs,
    evaluate_test,
    localize_all,
    outputs_backtal,
    with_clicks,
)
from model.branches import foreground_beliefs
from model.data import VideoItem
from model.suggest import SuggestConfig, flag_click, rank_suggestions
from model.train import fit, predict

GUIDED, A1_SUBSET, RANDOM_BG = "guided", "a1-subset", "random-bg"
WEAK, A1_ALL, A1_QA = "weak", "a1-all", "a1-qa"
# click QA by a model that never saw a click (--qa-weak): weak retrained (same seed, same
# model) with the QA of A1's clicks, and bg-click without the clicks it flags
WEAK_QA, A1_QA_WEAK = "weak-qa", "a1-qa-weak"
ROUND_ARMS = (GUIDED, A1_SUBSET, RANDOM_BG)  # trained at every round's click count
ARMS = (WEAK, *ROUND_ARMS, A1_ALL, A1_QA, WEAK_QA, A1_QA_WEAK)
DEFAULT_SCHEDULE = (1 / 6, 1 / 3, 2 / 3, 1.0)  # of A1's clicks: 377, 755, 1509, 2264
QUICK_SCHEDULE = (1 / 3, 1.0)
GOAL_CLICKS, A1_CLICKS = 755, 2264  # the must-show counts (full 'val' split)
GOAL_POINTS = 0.03  # "+ 3 points" of mAP@0.5


@dataclass(frozen=True)
class GuidedOptions:
    """The guided-loop settings (stored with the results next to the run ``Settings``)."""

    schedule: tuple[float, ...]  # cumulative click targets, fractions of A1's click count
    k: int  # suggestions answered at most per video per round
    error_rate: float  # share of the simulated annotator's clicks inside actions
    error_rate_source: str  # "A1 measured" or "--error-rate"
    qa_min_score: float = 0.5  # server default BACKTAL_QA_MIN_SCORE
    qa_margin_s: float = 0.2  # server default BACKTAL_QA_MARGIN_S
    # (no min activation: this study measured QA before docs/research/qa-planted.md's
    # amendment 1 added BACKTAL_QA_MIN_ACTIVATION; its numbers are of that rule)
    min_spacing_s: float = SuggestConfig.min_spacing_s
    click_radius_s: float = SuggestConfig.click_radius_s
    min_score: float = SuggestConfig.min_score

    def suggest_config(self) -> SuggestConfig:
        return SuggestConfig(
            max_suggestions=self.k,
            min_spacing_s=self.min_spacing_s,
            click_radius_s=self.click_radius_s,
            min_score=self.min_score,
        )


def results_key(settings: Settings, options: GuidedOptions) -> dict[str, Any]:
    """What identifies the results (a resume must match), as it reads back from JSON."""
    key = {"base": settings.key(), "guided": asdict(options)}
    return dict(json.loads(json.dumps(key)))


# ----------------------------------------------------------------------------- one training
def suggest(
    model: Any, items: Sequence[VideoItem], post: Any, block: dict[str, list[float]], config: Any
) -> dict[str, list[list[Any]]]:
    """``rank_suggestions`` on every training video: [[t_s, score, reason], ...] best first."""
    preds = predict(model, items, post)
    out = {}
    for item in items:
        p = preds[item.name]
        fg_filter, fg_base = foreground_beliefs(model, item.features)
        ranked = rank_suggestions(
            p.cas,
            p.video_scores,
            p.segments,
            item.duration,
            click_times_s=block.get(item.name, []),
            labels=set(np.flatnonzero(item.labels > 0).tolist()),
            fg_filter=fg_filter,
            fg_base=fg_base,
            config=config,
        )
        out[item.name] = [[s.t_s, round(s.score, 4), s.reason] for s in ranked]
    return out


def check_clicks(
    model: Any, items: Sequence[VideoItem], post: Any, options: GuidedOptions
) -> dict[str, Any]:
    """Flag each click (its snippet centre) inside a confident predicted segment; score the
    flags against the clicks inside GT instances."""
    preds = predict(model, items, post)
    flagged: Clicks = {}
    n = inside = n_flagged = hits = 0
    for item in items:
        for k in item.bg_clicks.tolist():
            t_s = centre(item, k)
            flags = flag_click(
                t_s,
                preds[item.name].segments,
                min_score=options.qa_min_score,
                margin_s=options.qa_margin_s,
            )
            truth = inside_gt(t_s, item.gt_segments)
            n += 1
            inside += truth
            if flags:
                flagged.setdefault(item.name, []).append(int(k))
                n_flagged += 1
                hits += truth
    return {
        "clicks": n,
        "inside_gt": inside,
        "flagged": n_flagged,
        "flagged_inside_gt": hits,
        "precision": hits / n_flagged if n_flagged else None,
        "recall": hits / inside if inside else None,
        "flagged_clicks": flagged,
    }


def train_task(
    spec: dict[str, Any],
    settings: Settings,
    options: GuidedOptions,
    device: str,
    threads: int,
) -> dict[str, Any]:
    """One training of ``spec`` (in this process or a ``--jobs`` worker) and its test scores;
    for ``weak``/``guided`` also the next round's suggestions, for ``a1-all`` the click QA."""
    torch.set_num_threads(threads)
    wall, cpu = time.perf_counter(), time.process_time()
    sim_dir = Path(spec["sim_dir"])
    train_items, test_items, names = load_sim_items(sim_dir, settings.standardize)
    train_items = with_clicks(train_items, spec["clicks"])
    mode = "weak" if spec["arm"] in (WEAK, WEAK_QA) else "bg-click"
    weak_arm = mode == "weak"
    num_classes = len(names)
    model_config, config = configs(mode, spec["seed"], settings, train_items, num_classes, device)
    tag = f"seed {spec['seed']} {spec['arm']} round {spec['round']}"

    def progress(info: dict[str, Any]) -> None:
        if info["epoch"] % 10 == 0 or info["epoch"] == info["epochs"]:
            held = info["val"].get("mAP_0.1_0.7")
            held_text = f" holdout_mAP={100 * held:.1f}" if held is not None else ""
            print(
                f"  {tag}: epoch {info['epoch']}/{info['epochs']}{held_text} "
                f"[{time.perf_counter() - wall:.0f} s]",
                flush=True,
            )

    result = fit(config, model_config, train_items, on_progress=progress)
    train_s = time.perf_counter() - wall
    preds = localize_all(outputs_backtal(result.model, test_items), test_items, config.post)
    held = set(result.holdout)
    clicked = [(it, k) for it in train_items for k in it.bg_clicks.tolist()]
    run: dict[str, Any] = {
        "arm": spec["arm"],
        "seed": spec["seed"],
        "round": spec["round"],
        "clicks": 0 if weak_arm else len(clicked),
        "clicks_trained": 0 if weak_arm else sum(it.name not in held for it, _ in clicked),
        "clicks_inside_gt": 0
        if weak_arm
        else sum(inside_gt(centre(it, k), it.gt_segments) for it, k in clicked),
        "best_epoch": result.best_epoch,
        "test": evaluate_test(preds, test_items),
    }
    if spec.get("suggest_k"):
        run["suggestions"] = suggest(
            result.model, train_items, config.post, spec["block"], options.suggest_config()
        )
    if spec.get("qa"):
        run["qa"] = check_clicks(result.model, train_items, config.post, options)
    run["train_s"] = round(train_s, 1)
    run["total_s"] = round(time.perf_counter() - wall, 1)
    run["cpu_s"] = round(time.process_time() - cpu, 1)
    return run


# ----------------------------------------------------------------------------- the loop
class SeedPlan:
    """What a seed still needs, given the finished runs (the guided rounds are a chain)."""

    def __init__(
        self,
        seed: int,
        sim_dir: Path,
        items: list[VideoItem],
        options: GuidedOptions,
        runs: list[dict[str, Any]],
        a1_click_count: int,
        baseline_rounds: set[int] | None = None,
        qa_weak: bool = False,
    ) -> None:
        self.qa_weak = qa_weak
        self.seed, self.sim_dir, self.items, self.options = seed, sim_dir, items, options
        self.baseline_rounds = baseline_rounds  # None: the baselines at every round
        self.runs = runs  # shared with the payload: appended to as trainings finish
        self.a1 = a1_clicks(items)
        self.a1_snippets = sum(len(v) for v in self.a1.values())
        # click counts as the issue counts them: rows of the click file (2264 on the full
        # split; a range marks several snippets, so A1's snippets are a few more: 2279 at T 375)
        self.a1_total = a1_click_count
        self.targets = [round(f * self.a1_total) for f in options.schedule]
        self._states: dict[int, RoundState] = {0: RoundState({}, {}, {})}

    def run_of(self, arm: str, round_index: int | None) -> dict[str, Any] | None:
        for r in self.runs:
            if r["seed"] == self.seed and r["arm"] == arm and r["round"] == round_index:
                return r
        return None

    def state(self, r: int) -> RoundState | None:
        """The guided clicks after round ``r`` (None until the suggestions exist)."""
        if r in self._states:
            return self._states[r]
        previous = self.state(r - 1)
        source = self.run_of(WEAK if r == 1 else GUIDED, 0 if r == 1 else r - 1)
        if previous is None or source is None:
            return None
        self._states[r] = simulate_round(
            self.items,
            source["suggestions"],
            previous,
            self.targets[r - 1],
            self.options.error_rate,
            self.seed,
            r,
        )
        return self._states[r]

    def _spec(self, arm: str, r: int | None, clicks: Clicks | None, **extra: Any) -> dict:
        return {
            "arm": arm,
            "seed": self.seed,
            "round": r,
            "clicks": clicks,
            "sim_dir": str(self.sim_dir),
            **extra,
        }

    def ready(self) -> list[dict[str, Any]]:
        """Specs of the trainings whose inputs exist and which have not run."""
        rounds = len(self.options.schedule)
        out = []
        if self.run_of(WEAK, 0) is None:
            out.append(self._spec(WEAK, 0, None, suggest_k=self.options.k, block={}))
        for r in range(1, rounds + 1):
            st = self.state(r)
            if st is None:
                break
            if self.run_of(GUIDED, r) is None:
                block = {
                    it.name: [centre(it, k) for k in st.clicks.get(it.name, [])]
                    + st.passed.get(it.name, [])
                    for it in self.items
                }
                k = self.options.k if r < rounds else 0
                out.append(self._spec(GUIDED, r, st.clicks, suggest_k=k, block=block))
            if self.baseline_rounds is not None and r not in self.baseline_rounds:
                continue
            if self.run_of(A1_SUBSET, r) is None:
                out.append(self._spec(A1_SUBSET, r, a1_subset(self.items, st.total, self.seed)))
            if self.run_of(RANDOM_BG, r) is None:
                counts = {name: len(v) for name, v in st.clicks.items()}
                out.append(
                    self._spec(RANDOM_BG, r, random_background(self.items, counts, self.seed))
                )
        all_run = self.run_of(A1_ALL, None)
        if all_run is None:
            out.append(self._spec(A1_ALL, None, None, qa=True))
        elif self.run_of(A1_QA, None) is None:
            out.append(self._spec(A1_QA, None, self._without(all_run)))
        if self.qa_weak:
            weak_qa = self.run_of(WEAK_QA, None)
            if weak_qa is None:
                out.append(self._spec(WEAK_QA, None, None, qa=True))
            elif self.run_of(A1_QA_WEAK, None) is None:
                out.append(self._spec(A1_QA_WEAK, None, self._without(weak_qa)))
        return out

    def _without(self, qa_run: dict[str, Any]) -> Clicks:
        """A1's clicks minus those that ``qa_run``'s click QA flagged."""
        flagged = qa_run["qa"]["flagged_clicks"]
        return {
            name: [k for k in ks if k not in set(flagged.get(name, []))]
            for name, ks in self.a1.items()
        }

    def places(self) -> dict[str, list[int]]:
        """Where each arm's clicks lie relative to the GT (``click_places`` summed over the
        training videos): the guided clicks and the baselines of every round computed so
        far, and all of A1's."""
        by_name = {it.name: it for it in self.items}

        def count(clicks: Clicks) -> list[int]:
            total = [0, 0, 0, 0]
            for name, snippets in clicks.items():
                it = by_name[name]
                times = [centre(it, k) for k in snippets]
                total = [
                    a + b for a, b in zip(total, click_places(it.gt_segments, times), strict=True)
                ]
            return total

        out = {f"{A1_ALL}": count(self.a1)}
        for r in range(1, len(self.options.schedule) + 1):
            if r not in self._states:
                break
            st = self._states[r]
            out[f"{GUIDED} {r}"] = count(st.clicks)
            if self.run_of(A1_SUBSET, r) is not None:
                out[f"{A1_SUBSET} {r}"] = count(a1_subset(self.items, st.total, self.seed))
            if self.run_of(RANDOM_BG, r) is not None:
                counts = {name: len(v) for name, v in st.clicks.items()}
                out[f"{RANDOM_BG} {r}"] = count(random_background(self.items, counts, self.seed))
        return out

    def annotation(self) -> list[dict[str, Any]]:
        return [
            self._states[r].stats
            for r in range(1, len(self.options.schedule) + 1)
            if r in self._states
        ]


def _priority(spec: dict[str, Any], seed_first: bool) -> tuple[int, ...]:
    """The guided chain first (it unlocks the rest), then the references, the baselines;
    ``seed_first``: one seed after the other (one process keeps one sim loaded)."""
    rank = {
        WEAK: 0,
        GUIDED: 0,
        A1_ALL: 1,
        A1_SUBSET: 2,
        RANDOM_BG: 2,
        A1_QA: 3,
        WEAK_QA: 3,
        A1_QA_WEAK: 3,
    }[spec["arm"]]
    if seed_first:
        return spec["seed"], rank, spec["round"] or 0
    return rank, spec["round"] or 0, spec["seed"]


def _key(spec_or_run: dict[str, Any]) -> tuple[str, int, int | None]:
    return spec_or_run["arm"], spec_or_run["seed"], spec_or_run["round"]


def run_benchmark(
    settings: Settings,
    options: GuidedOptions,
    gt: Path,
    clicks: Path,
    out_dir: Path,
    device: str = "cpu",
    command: str = "",
    log: Callable[[str], None] = print,
    jobs: int = 1,
    threads: int = 1,
    baseline_rounds: Sequence[int] | None = None,
    qa_weak: bool = False,
) -> dict[str, Any]:
    """Every training not yet in ``out_dir/guided.json``; returns the payload.

    ``baseline_rounds``: the rounds (1-based) at whose click counts the baselines
    (``a1-subset``, ``random-bg``) are trained; None: every round. Which trainings run, not
    what any of them computes: not part of the results key. ``qa_weak``: also the click QA
    by the weak model (arms ``weak-qa``, ``a1-qa-weak``), likewise not part of the key.

    ``jobs`` > 1: that many trainings at once in spawned worker processes (``threads`` torch
    threads each); every training seeds itself, so the runs equal a one-process run.
    """
    from bench.lab import guided_report

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "guided.json", out_dir / "guided.md"
    key = results_key(settings, options)
    payload: dict[str, Any] = {"settings": key, "runs": []}
    if (old := stored_payload(json_path, key, log)) is not None:
        payload["runs"] = old["runs"]
    payload.update(seeds=list(settings.seeds), command=command, device=device)
    plans = []
    rows = a1_rows(gt, clicks)
    for seed in settings.seeds:
        sim_dir = ensure_sim(settings, gt, clicks, seed, out_dir, log)
        items = metadata_items(sim_dir)
        names = {it.name for it in items}
        count = sum(name in names for name, _, _ in rows)
        plans.append(
            SeedPlan(
                seed,
                sim_dir,
                items,
                options,
                payload["runs"],
                count,
                set(baseline_rounds) if baseline_rounds is not None else None,
                qa_weak,
            )
        )
    started = time.perf_counter()

    def save() -> None:
        payload["annotation"] = {str(p.seed): p.annotation() for p in plans}
        payload["places"] = {str(p.seed): p.places() for p in plans}
        payload["a1_clicks"] = {str(p.seed): p.a1_total for p in plans}
        payload["a1_snippets"] = {str(p.seed): p.a1_snippets for p in plans}
        payload["targets"] = {str(p.seed): p.targets for p in plans}
        write_json(json_path, payload)
        md_path.write_text(guided_report.render(payload))

    def finished(run: dict[str, Any]) -> None:
        payload["runs"].append(run)
        t = run["test"]
        log(
            f"[{len(payload['runs'])}] seed {run['seed']} {run['arm']} round {run['round']}: "
            f"{run['clicks']} clicks, mAP@0.5 {100 * t['mAP']['0.5']:.1f} avg0.1:0.7 "
            f"{100 * t['avg_0.1_0.7']:.1f} ({run['total_s']:.0f} s; elapsed "
            f"{(time.perf_counter() - started) / 60:.1f} min)"
        )
        save()

    def pending(in_flight: set[Any]) -> list[dict[str, Any]]:
        specs = [s for p in plans for s in p.ready() if _key(s) not in in_flight]
        return sorted(specs, key=lambda s: _priority(s, jobs <= 1))

    run_pending(
        pending,
        _key,
        train_task,
        (settings, options, device, threads),
        finished,
        jobs,
        log,
        lambda s: f"seed {s['seed']} {s['arm']} round {s['round']}",
    )
    order = {arm: i for i, arm in enumerate(ARMS)}
    payload["runs"].sort(key=lambda r: (r["seed"], r["round"] or 0, order[r["arm"]]))
    save()
    path = guided_report.plot_results(payload, out_dir)
    if path is not None:
        log(f"wrote {path}")
    return payload


# ----------------------------------------------------------------------------- options
def options_from_args(args: argparse.Namespace) -> tuple[Settings, GuidedOptions]:
    """The settings (trainings of ``weak`` and ``bg-click``) and the guided loop's options
    from parsed options; SystemExit with a sentence for options that do not fit."""
    if list(args.modes) != list(ALL_MODES):
        raise SystemExit(
            "--modes does not apply here: the arms are fixed (docs/research/guided.md)"
        )
    if args.lookalike_rate is not None:
        args.sim_params = [*args.sim_params, f"lookalike_rate_per_min={args.lookalike_rate}"]
    settings = replace(settings_from_args(args), modes=("weak", "bg-click"))
    schedule = tuple(args.schedule or (QUICK_SCHEDULE if args.quick else DEFAULT_SCHEDULE))
    if any(b <= a for a, b in itertools.pairwise(schedule)) or schedule[0] <= 0:
        raise SystemExit("--schedule: positive, strictly increasing fractions")
    if args.k < 1:
        raise SystemExit("--k must be >= 1")
    if args.error_rate is None:
        rate, _, _ = a1_error_rate(args.gt, args.clicks)
        source = "A1 measured"
    else:
        rate, source = args.error_rate, "--error-rate"
    if not 0.0 <= rate < 1.0:
        raise SystemExit("--error-rate must be in [0, 1)")
    options = GuidedOptions(
        schedule=schedule,
        k=args.k,
        error_rate=rate,
        error_rate_source=source,
        qa_min_score=args.qa_min_score,
        qa_margin_s=args.qa_margin,
    )
    return settings, options
