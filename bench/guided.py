"""THUMOS14-sim guided-annotation benchmark: do suggested background clicks buy more test mAP
per click than the human's clicks, or than random background moments? And does click QA find
the human's wrong clicks?

Per seed s (sim seed s = training seed s, as in ``bench/supervision.py``, whose functions this
script reuses):

1. round 0: train ``weak`` (video labels only) on the 'val' split;
2. round r = 1..R: the latest model predicts on the training videos, ``model.suggest.
   rank_suggestions`` ranks up to ``--k`` moments per video, a *simulated annotator* answers
   them from the sim's ground truth (background moment: a background click there; moment
   inside an action: a pass; with A1's own error rate, see below) until the cumulative click
   count reaches the round's target (``--schedule``: fractions of A1's click count), then
   ``bg-click`` is retrained on all guided clicks so far and evaluated on the test split;
3. at every round's click count, two baselines are trained: ``a1-subset`` (a seeded random
   subset of annotator A1's real clicks of the same total size) and ``random-bg`` (uniformly
   random background snippets, outside every GT instance, the same number per video as the
   guided clicks);
4. references: ``weak`` (round 0) and ``a1-all`` (every A1 click, = ``bg-click`` of
   ``bench/supervision.py``);
5. click QA: ``model.suggest.flag_click`` checks each A1 click against the ``a1-all`` model's
   predictions on the training videos (the ground-truth check is *not* used: that is the truth
   we score against); precision and recall of the flags against the A1 clicks inside GT
   actions; ``a1-qa`` retrains with the flagged clicks deleted.

Nothing is selected on the test split: epochs are chosen on held-out training videos by
``model.train.fit`` exactly as in ``bench/supervision.py``; the schedule, ``--k``, the error
rate and the QA thresholds are options fixed before a run (stored with the results).

**Simulated annotator, error model ("matched").** A1's error rate ``ε`` is the share of A1's
background clicks on training videos whose time lies inside a GT instance of the video
(measured from ``--clicks`` and ``--gt``: 175 of 2264 = 7.7 %). The simulated annotator never
passes a background moment; at a moment inside an action it clicks anyway (an error) with
probability ``p = min(1, ε/(1 − ε) · B/A)``, B and A the numbers of background and action
moments among the round's suggestions, so that in expectation ``ε`` of its clicks lie inside
actions, the same share as A1's. Errors are seeded draws, independent of the suggestion's rank
or score. ``--error-rate 0`` is a perfect annotator.

    python bench/guided.py --quick      # 1 seed, 60 + 60 videos, 10 epochs, 2 rounds
    python bench/guided.py --jobs 2     # 3 seeds, 200 + 210 videos, 40 epochs, 4 rounds

Results: ``OUT/guided.json`` (resumable, keyed by the settings), ``OUT/guided.md``,
``OUT/guided.png`` (default OUT = data/bench/guided). Design and goals: docs/guided.md
"Benchmark".
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import supervision as sup

from model import sim
from model.branches import foreground_beliefs
from model.data import VideoItem, load_npz_split
from model.suggest import SuggestConfig, flag_click, rank_suggestions, snippet_times
from model.timebase import snippet_index
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
ROOT = Path(__file__).resolve().parents[1]

Clicks = dict[str, list[int]]  # video name -> sorted background-click snippet indices


@dataclass(frozen=True)
class GuidedOptions:
    """The guided-loop settings (stored with the results next to ``supervision.Settings``)."""

    schedule: tuple[float, ...]  # cumulative click targets, fractions of A1's click count
    k: int  # suggestions answered at most per video per round
    error_rate: float  # share of the simulated annotator's clicks inside actions
    error_rate_source: str  # "A1 measured" or "--error-rate"
    qa_min_score: float = 0.5  # server default BACKTAL_QA_MIN_SCORE
    qa_margin_s: float = 0.2  # server default BACKTAL_QA_MARGIN_S
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


def results_key(settings: sup.Settings, options: GuidedOptions) -> dict[str, Any]:
    """What identifies the results (a resume must match), as it reads back from JSON."""
    key = {"base": settings.key(), "guided": asdict(options)}
    return dict(json.loads(json.dumps(key)))


# ----------------------------------------------------------------------------- ground truth
def inside_gt(t_s: float, segments: Sequence[tuple[float, float, int]] | None) -> bool:
    """Whether ``t_s`` lies in a GT instance (closed interval) of the video."""
    return any(start <= t_s <= end for start, end, _ in segments or ())


def a1_rows(gt_path: Path, clicks_path: Path) -> list[tuple[str, float, bool]]:
    """The click file's background clicks on training ('val') videos, as make_sim keeps
    them: (video, time (a range: its midpoint), inside a GT instance of the video)."""
    gt = sim.load_gt(gt_path)
    out = []
    for row in sim.read_click_csv(clicks_path):
        video = gt.videos.get(row.vid) or gt.videos.get(Path(row.vid).stem)
        if video is None or video.split != "val" or row.state == "0":
            continue
        if not sim.is_background(row):
            continue
        t_s = 0.5 * (row.start + row.end)
        out.append((video.name, t_s, any(i.start <= t_s <= i.end for i in video.instances)))
    return out


def a1_error_rate(gt_path: Path, clicks_path: Path) -> tuple[float, int, int]:
    """(share, inside, clicks): the share of the click file's background clicks on training
    videos whose time lies inside a GT instance of the video."""
    rows = a1_rows(gt_path, clicks_path)
    if not rows:
        raise SystemExit(f"{clicks_path}: no background click on a training video")
    inside = sum(r[2] for r in rows)
    return inside / len(rows), inside, len(rows)


def centre(item: VideoItem, snippet: int) -> float:
    return float(snippet_times(item.num_snippets, item.duration)[snippet])


def background_snippets(item: VideoItem) -> np.ndarray:
    """Snippets whose centre lies outside every GT instance of the video."""
    t = snippet_times(item.num_snippets, item.duration)
    inside = np.zeros(len(t), dtype=bool)
    for start, end, _ in item.gt_segments or ():
        inside |= (t >= start) & (t <= end)
    return np.flatnonzero(~inside)


PLACES = ("inside GT", "≤ 1 s from GT", "1–3 s from GT", "> 3 s from GT")


def click_places(
    segments: Sequence[tuple[float, float, int]] | None, times_s: Sequence[float]
) -> list[int]:
    """How many of the click times lie inside a GT instance (closed interval), within 1 s of
    one, 1–3 s from the nearest, or farther (``PLACES`` order). No GT: all "farther"."""
    counts = [0, 0, 0, 0]
    spans = [(float(s), float(e)) for s, e, _ in segments or ()]
    for t in times_s:
        if any(s <= t <= e for s, e in spans):
            counts[0] += 1
            continue
        gap = min((s - t if t < s else t - e for s, e in spans), default=math.inf)
        counts[1 if gap <= 1.0 else 2 if gap <= 3.0 else 3] += 1
    return counts


def _rng(*keys: int | str) -> np.random.Generator:
    return np.random.default_rng(
        [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in keys]
    )


# ----------------------------------------------------------------------------- annotator
@dataclass
class RoundState:
    """The guided clicks after one round (cumulative) and how the annotator got there."""

    clicks: Clicks
    passed: dict[str, list[float]]  # moments answered with a pass (never suggested again)
    stats: dict[str, Any]

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.clicks.values())


def _error_probability(error_rate: float, n_bg: int, n_action: int) -> float:
    """``p = min(1, ε/(1 − ε) · B/A)``: clicking that share of the A action moments puts
    ``ε`` of the clicks inside actions in expectation (B background moments all clicked)."""
    if error_rate <= 0 or n_action == 0:
        return 0.0
    if error_rate >= 1:
        return 1.0
    return min(1.0, error_rate / (1.0 - error_rate) * n_bg / n_action)


def simulate_round(
    items: Sequence[VideoItem],
    suggestions: dict[str, list[list[Any]]],
    previous: RoundState,
    target: int,
    error_rate: float,
    seed: int,
    round_index: int,
) -> RoundState:
    """Answer the suggestions (per video best first) until ``target`` clicks in all.

    Order: rank 1 of every video (videos in a seeded random order), then rank 2, ... A
    background moment gets a click; a moment inside a GT instance a pass, or, with
    probability ``p = min(1, ε/(1 − ε) · B/A)`` a click (an error), B and A the background
    and action moments among the suggestions the annotator gets to before the target is met
    (a fixed point: the answered prefix depends on p; a few iterations settle it), so that
    ``ε`` of its clicks lie inside actions in expectation. Draws are seeded per round. A
    click is stored as its snippet (``model.timebase``).
    """
    by_name = {it.name: it for it in items}
    rng = _rng(seed, round_index, "annotator")
    order = [items[i].name for i in rng.permutation(len(items))]
    depth = max((len(s) for s in suggestions.values()), default=0)
    pool = [
        (name, float(suggestions[name][rank][0]))
        for rank in range(depth)
        for name in order
        if rank < len(suggestions.get(name, []))
    ]
    truth = [inside_gt(t, by_name[name].gt_segments) for name, t in pool]
    draws = rng.random(len(pool))

    def walk(p_error: float) -> tuple[RoundState, int, int, int]:
        clicks = {name: set(v) for name, v in previous.clicks.items()}
        passed = {name: list(v) for name, v in previous.passed.items()}
        total = previous.total
        answered = new = errors = passes = 0
        for (name, t_s), in_action, u in zip(pool, truth, draws, strict=True):
            if total >= target:
                break
            answered += 1
            item = by_name[name]
            if in_action and u >= p_error:
                passed.setdefault(name, []).append(t_s)
                passes += 1
                continue
            snippet = snippet_index(t_s, item.duration, item.num_snippets)
            if snippet in clicks.setdefault(name, set()):
                continue
            clicks[name].add(snippet)
            total += 1
            new += 1
            errors += in_action
        state = RoundState({n: sorted(v) for n, v in clicks.items() if v}, passed, {})
        return state, answered, errors, passes

    p_error = _error_probability(error_rate, len(pool) - sum(truth), sum(truth))
    for _ in range(10):
        state, answered, errors, passes = walk(p_error)
        n_action = sum(truth[:answered])
        p_next = _error_probability(error_rate, answered - n_action, n_action)
        if p_next == p_error:
            break
        p_error = p_next
    state, answered, errors, passes = walk(p_error)
    new = state.total - previous.total
    state.stats = {
        "round": round_index,
        "target": target,
        "suggested": len(pool),
        "suggested_inside_gt": sum(truth),
        "p_error": round(p_error, 4),
        "answered": answered,
        "answered_inside_gt": sum(truth[:answered]),
        "new_clicks": new,
        "errors": errors,
        "passes": passes,
        "clicks": state.total,
        "new_inside_share": round(errors / new, 4) if new else None,
        "shortfall": max(0, target - state.total),
    }
    return state


def a1_clicks(items: Sequence[VideoItem]) -> Clicks:
    """A1's click snippets per training video (the sim's ``point_label``)."""
    return {it.name: sorted(int(k) for k in it.bg_clicks) for it in items if len(it.bg_clicks)}


def a1_subset(items: Sequence[VideoItem], count: int, seed: int) -> Clicks:
    """The first ``count`` of a seeded permutation of all A1 clicks (nested across counts)."""
    pairs = [(name, k) for name, ks in sorted(a1_clicks(items).items()) for k in ks]
    order = _rng(seed, "a1-subset").permutation(len(pairs))[:count]
    out: dict[str, list[int]] = {}
    for i in sorted(order.tolist()):
        out.setdefault(pairs[i][0], []).append(pairs[i][1])
    return {name: sorted(v) for name, v in out.items()}


def random_background(items: Sequence[VideoItem], counts: dict[str, int], seed: int) -> Clicks:
    """Per video, the first ``counts[name]`` of a seeded permutation of its background
    snippets (nested across counts; capped by what the video has)."""
    out = {}
    for item in items:
        n = counts.get(item.name, 0)
        if n <= 0:
            continue
        snippets = _rng(seed, item.name, "random-bg").permutation(background_snippets(item))
        out[item.name] = sorted(int(k) for k in snippets[:n])
    return out


# ----------------------------------------------------------------------------- one training
def _with_clicks(items: Sequence[VideoItem], clicks: Clicks | None) -> list[VideoItem]:
    if clicks is None:
        return list(items)
    return [
        replace(it, bg_clicks=np.asarray(clicks.get(it.name, []), dtype=np.int64)) for it in items
    ]


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


def click_qa(
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


def _task(
    spec: dict[str, Any],
    settings: sup.Settings,
    options: GuidedOptions,
    device: str,
    threads: int,
) -> dict[str, Any]:
    """One training of ``spec`` (in this process or a ``--jobs`` worker) and its test scores;
    for ``weak``/``guided`` also the next round's suggestions, for ``a1-all`` the click QA."""
    torch.set_num_threads(threads)
    wall, cpu = time.perf_counter(), time.process_time()
    sim_dir = Path(spec["sim_dir"])
    train_items, test_items, names = sup.load_sim_items(sim_dir, settings.standardize)
    train_items = _with_clicks(train_items, spec["clicks"])
    mode = "weak" if spec["arm"] in (WEAK, WEAK_QA) else "bg-click"
    weak_arm = mode == "weak"
    num_classes = len(names)
    model_config, config = sup.configs(
        mode, spec["seed"], settings, train_items, num_classes, device
    )
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
    preds = sup.localize_all(sup.outputs_backtal(result.model, test_items), test_items, config.post)
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
        "test": sup.evaluate_test(preds, test_items),
    }
    if spec.get("suggest_k"):
        run["suggestions"] = suggest(
            result.model, train_items, config.post, spec["block"], options.suggest_config()
        )
    if spec.get("qa"):
        run["qa"] = click_qa(result.model, train_items, config.post, options)
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


def _metadata_items(sim_dir: Path) -> list[VideoItem]:
    """The training videos without their features (names, durations, T, GT, A1 clicks)."""
    items = load_npz_split(sim_dir, "val")
    return [replace(it, features=np.zeros((it.num_snippets, 0), dtype=np.float32)) for it in items]


def run_benchmark(
    settings: sup.Settings,
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
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "guided.json", out_dir / "guided.md"
    key = results_key(settings, options)
    payload: dict[str, Any] = {"settings": key, "runs": []}
    if (old := sup.stored_payload(json_path, key, log)) is not None:
        payload["runs"] = old["runs"]
    payload.update(seeds=list(settings.seeds), command=command, device=device)
    plans = []
    rows = a1_rows(gt, clicks)
    for seed in settings.seeds:
        sim_dir = sup.ensure_sim(settings, gt, clicks, seed, out_dir, log)
        items = _metadata_items(sim_dir)
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
        sup._write_json(json_path, payload)
        md_path.write_text(render(payload))

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

    sup.run_pending(
        pending,
        _key,
        _task,
        (settings, options, device, threads),
        finished,
        jobs,
        log,
        lambda s: f"seed {s['seed']} {s['arm']} round {s['round']}",
    )
    order = {arm: i for i, arm in enumerate(ARMS)}
    payload["runs"].sort(key=lambda r: (r["seed"], r["round"] or 0, order[r["arm"]]))
    save()
    path = plot_results(payload, out_dir)
    if path is not None:
        log(f"wrote {path}")
    return payload


# ----------------------------------------------------------------------------- report
def _pct(values: Sequence[float]) -> str:
    return sup._mean_std(values)


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


# ----------------------------------------------------------------------------- options
def build_parser() -> argparse.ArgumentParser:
    """``bench/supervision.py``'s options (same defaults) plus the guided loop's."""
    p = sup.build_parser()
    p.description = __doc__.split("\n")[0]
    for action in p._actions:
        if action.dest == "modes":  # the arms are fixed here
            action.help = argparse.SUPPRESS
        if action.dest == "quick":
            action.help = "1 seed, first 60 videos of each split, 10 epochs, 2 rounds"
    p.set_defaults(out_dir=ROOT / "data" / "bench" / "guided")
    p.add_argument(
        "--schedule",
        type=float,
        nargs="+",
        default=None,
        help="cumulative click targets per round as fractions of A1's click count "
        "(default 1/6 1/3 2/3 1 = 377 755 1509 2264 on the full split; --quick 1/3 1)",
    )
    p.add_argument(
        "--k",
        type=int,
        default=16,
        help="suggestions answered at most per video per round (the click target stops a round "
        "earlier; passes count as answers)",
    )
    p.add_argument(
        "--error-rate",
        type=float,
        default=None,
        help="the simulated annotator's share of clicks inside actions (default: A1's measured)",
    )
    p.add_argument(
        "--lookalike-rate",
        type=float,
        default=None,
        help="sim v3 look-alike segments per minute (default: the SimParams default)",
    )
    p.add_argument(
        "--baseline-rounds",
        type=int,
        nargs="+",
        default=None,
        help="train the a1-subset and random-bg baselines only at these rounds' click counts "
        "(1-based; default: every round). E.g. 2 4 = at 755 and 2264 clicks",
    )
    p.add_argument(
        "--qa-weak",
        action="store_true",
        help="also check A1's clicks with the weak model (which saw no click) and retrain "
        "without the clicks it flags (arms weak-qa, a1-qa-weak)",
    )
    p.add_argument("--qa-min-score", type=float, default=0.5)
    p.add_argument("--qa-margin", type=float, default=0.2, help="seconds")
    return p


def options_from_args(args: argparse.Namespace) -> tuple[sup.Settings, GuidedOptions]:
    if list(args.modes) != list(sup.ALL_MODES):
        raise SystemExit("--modes does not apply here: the arms are fixed (docs/guided.md)")
    if args.lookalike_rate is not None:
        args.sim_params = [*args.sim_params, f"lookalike_rate_per_min={args.lookalike_rate}"]
    settings = replace(sup.settings_from_args(args), modes=("weak", "bg-click"))
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings, options = options_from_args(args)
    command = sup.command_line("guided.py", argv)

    def log(msg: str) -> None:
        print(msg, flush=True)

    log(f"settings: {settings}\nguided: {options}")
    payload = run_benchmark(
        settings,
        options,
        args.gt,
        args.clicks,
        args.out_dir,
        args.device,
        command.strip(),
        log,
        jobs=args.jobs,
        threads=args.threads,
        baseline_rounds=args.baseline_rounds,
        qa_weak=args.qa_weak,
    )
    print(render(payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
