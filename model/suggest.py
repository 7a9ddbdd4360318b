"""Where a background click would teach the model most, and which clicks look wrong.

Pure numpy (no torch, no server): the worker calls it after each prediction job, the
benchmark calls it on simulated videos. Design and measurements: ``docs/guided.md``.

Suggestion signals, each a per-snippet curve in [0, 1] (snippet ``k`` of ``T`` is centred at
``(k + 0.5) · duration / T``):

* ``low_confidence`` — inside a predicted segment, ``4·f·(1 − f)`` with ``f`` the segment
  class's normalised CAS: the model calls the moment action but only half-heartedly. A
  background click is informative only where the model predicts action (elsewhere it
  already says background), and most where it is unsure.
* ``branch_disagreement`` — ``|a − p|`` with ``a`` the filter's foreground weight (what the
  suppressed branch sees) and ``p`` the base branch's foreground probability
  (``1 − softmax(CAS_base)[background]``): the two halves of BackTAL disagree about whether
  the snippet is background, which is exactly the question a background click answers.
* ``segment_border`` — in a band of ``border_s`` just outside a predicted segment,
  ``clip(score)·f``: activation that bleeds past the segment's edge, the action-context
  confusion that background clicks exist to fix.
* ``unlabelled_activation`` — for classes the video is labelled *without*,
  ``f · clip(video_score / class_threshold)``: the model sees a class nobody saw in the
  video; whatever it fires on is background (for that class).
* ``coverage`` — moments spread over the video's unclicked time, preferring what the model
  already calls background: ``(1 − f_max) · min(1, d / spacing)`` with ``f_max`` the largest
  normalised CAS of the classes the video has (labelled, or scored ≥ ``class_threshold``),
  ``d`` the distance to the nearest background click and ``spacing`` = duration /
  (clicks + suggestions + 1), the gap of an even spread. Alone (the other weights 0) its
  moments are picked farthest-point style: each pick counts as a click for the next. This
  is the benchmark's ``random-bg`` arm (uniform background moments, which did not hurt)
  made into a rule an annotator can answer.

The score of a snippet is the largest weighted signal (its reason is that signal's name);
suggestions are picked greedily, best first, at least ``min_spacing_s`` apart, none within
``click_radius_s`` of an existing background click, none below ``min_score``.

Click QA (:func:`flag_click`): a background click strictly inside (by ``margin_s``) a
predicted segment of score ≥ ``min_score`` (“confident”), or inside a ground-truth segment,
is flagged with each reason. With ``min_activation`` τ, a prediction flags the click only where
the segment's class activation at the click (:func:`activation_at` on the curve the product
stores, :func:`curve_points`) is ≥ τ: a segment may span a dip between two actions that the
model itself calls background (docs/research/qa-planted.md, amendment 1).
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

LOW_CONFIDENCE = "low_confidence"
BRANCH_DISAGREEMENT = "branch_disagreement"
SEGMENT_BORDER = "segment_border"
UNLABELLED_ACTIVATION = "unlabelled_activation"
COVERAGE = "coverage"
REASONS = (LOW_CONFIDENCE, BRANCH_DISAGREEMENT, SEGMENT_BORDER, UNLABELLED_ACTIVATION, COVERAGE)
# the four signals of the first design (the product's default until docs/guided.md decides)
MODEL_SIGNALS = REASONS[:4]

INSIDE_PREDICTION = "inside_prediction"
INSIDE_GROUND_TRUTH = "inside_ground_truth"
FLAG_REASONS = (INSIDE_PREDICTION, INSIDE_GROUND_TRUTH)

# (start_s, end_s, class, score) — model.postprocess.Segment; class = index (or any int id)
SegmentT = tuple[float, float, int, float]
GTSegmentT = tuple[float, float, int]


@dataclass(frozen=True)
class SuggestConfig:
    max_suggestions: int = 5
    min_spacing_s: float = 2.0
    click_radius_s: float = 1.0
    min_score: float = 0.2
    border_s: float = 1.0
    class_threshold: float = 0.25  # the video score at which a class counts as present
    weights: Mapping[str, float] = field(
        default_factory=lambda: {r: float(r in MODEL_SIGNALS) for r in REASONS}
    )


# The suggestion rules bench.suggest_rules compares: rule -> (signal weights, the weakest score
# suggested). ``default`` is the first design's mix (the four model signals, floor 0.2; the
# product's default until 2026-12-06); a single-signal rule ranks by its signal with a floor of
# 0.01 (under 0.2 two signals suggested next to nothing: docs/research/guided.md, the
# amendment); ``only-coverage`` is the coverage rule (farthest-point moments over the unclicked
# time, preferring what the model calls background).
FIRST_DESIGN_MIN_SCORE = 0.2
RULES: dict[str, tuple[dict[str, float], float]] = {
    "default": (dict.fromkeys(MODEL_SIGNALS, 1.0), FIRST_DESIGN_MIN_SCORE),
    **{f"only-{r}": ({q: float(q == r) for q in MODEL_SIGNALS}, 0.01) for r in MODEL_SIGNALS},
    f"only-{COVERAGE}": ({COVERAGE: 1.0, **dict.fromkeys(MODEL_SIGNALS, 0.0)}, 0.01),
}
# The product's default rule, chosen on held-out videos by the written rule of
# docs/research/guided.md ("Suggestion rules under the studio recipe", 2026-12-06): the server's
# BACKTAL_SUGGEST_REASONS and BACKTAL_SUGGEST_MIN_SCORE default to its signals and floor.
PRODUCT_RULE = f"only-{COVERAGE}"


def rule_signals(rule: str) -> list[str]:
    """The signals a rule ranks by (weight > 0), in REASONS order."""
    weights = RULES[rule][0]
    return [r for r in REASONS if weights.get(r, 0.0) > 0]


@dataclass(frozen=True)
class Suggestion:
    t_s: float
    score: float
    reason: str
    class_index: int | None  # the class whose activation made the signal (None: no class)


@dataclass(frozen=True)
class ClickFlag:
    reason: str  # INSIDE_PREDICTION | INSIDE_GROUND_TRUTH
    class_index: int
    start_s: float
    end_s: float
    score: float | None  # the segment's score; None for ground truth


def snippet_times(num_snippets: int, duration_s: float) -> np.ndarray:
    """Centres of the snippets.  # () -> (T,)"""
    return (np.arange(num_snippets) + 0.5) * (duration_s / num_snippets)


def signal_curves(
    cas: np.ndarray,
    video_scores: np.ndarray,
    segments: Sequence[SegmentT],
    duration_s: float,
    *,
    labels: Collection[int] | None = None,
    fg_filter: np.ndarray | None = None,
    fg_base: np.ndarray | None = None,
    config: SuggestConfig | None = None,
    click_times_s: Sequence[float] = (),
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each available signal as (value, class): ``# (T,) float in [0, 1], (T,) int (−1: none)``.

    cas: (C, T) min-max normalised CAS of the action classes (``PredictionResult.cas``);
    video_scores: (C,); segments: (start_s, end_s, class index, score); labels: the class
    indices the video is labelled with (None: nobody labelled it → no
    ``unlabelled_activation``); fg_filter, fg_base: (T,) in [0, 1] (None → no
    ``branch_disagreement``).
    """
    cfg = config or SuggestConfig()
    cas = np.clip(np.asarray(cas, dtype=np.float64), 0.0, 1.0)  # (C, T)
    C, T = cas.shape
    t = snippet_times(T, duration_s)  # (T,)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    low = np.zeros(T)
    low_cls = np.full(T, -1)
    border = np.zeros(T)
    border_cls = np.full(T, -1)
    inside_own = np.zeros((C, T), dtype=bool)
    for start, end, c, _ in segments:
        inside_own[int(c)] |= (t >= start) & (t <= end)
    for start, end, c, score in segments:
        c = int(c)
        f = cas[c]
        inside = (t >= start) & (t <= end)
        u = np.where(inside, 4.0 * f * (1.0 - f), 0.0)
        better = u > low
        low = np.where(better, u, low)
        low_cls = np.where(better, c, low_cls)
        before = (t >= start - cfg.border_s) & (t < start)
        after = (t > end) & (t <= end + cfg.border_s)
        band = (before | after) & ~inside_own[c]
        b = np.where(band, float(np.clip(score, 0.0, 1.0)) * f, 0.0)
        better = b > border
        border = np.where(better, b, border)
        border_cls = np.where(better, c, border_cls)
    out[LOW_CONFIDENCE] = (low, low_cls)
    out[SEGMENT_BORDER] = (border, border_cls)

    if fg_filter is not None and fg_base is not None:
        a = np.clip(np.asarray(fg_filter, dtype=np.float64), 0.0, 1.0)
        p = np.clip(np.asarray(fg_base, dtype=np.float64), 0.0, 1.0)
        if a.shape != (T,) or p.shape != (T,):
            raise ValueError(f"fg_filter and fg_base must have shape ({T},)")
        out[BRANCH_DISAGREEMENT] = (np.abs(a - p), np.full(T, -1))

    if labels is not None:
        absent = [c for c in range(C) if c not in set(labels)]
        if absent:
            vs = np.asarray(video_scores, dtype=np.float64)[absent]  # (n,)
            weight = np.clip(vs / cfg.class_threshold, 0.0, 1.0)[:, None]  # (n, 1)
            act = cas[absent] * weight  # (n, T)
            k = act.argmax(axis=0)  # (T,)
            out[UNLABELLED_ACTIVATION] = (act.max(axis=0), np.asarray(absent)[k])
        else:
            out[UNLABELLED_ACTIVATION] = (np.zeros(T), np.full(T, -1))
    background = background_belief(cas, video_scores, labels, cfg.class_threshold)
    spacing = duration_s / (len(click_times_s) + cfg.max_suggestions + 1)
    out[COVERAGE] = (
        background * spread_factor(t, click_times_s, spacing),
        np.full(T, -1),
    )
    return out


def background_belief(
    cas: np.ndarray,
    video_scores: np.ndarray,
    labels: Collection[int] | None,
    class_threshold: float,
) -> np.ndarray:
    """1 − the largest normalised CAS of the classes the video has: its labelled classes, or
    (unlabelled video) those scored ≥ ``class_threshold``; 1 everywhere when it has none.
    # (C, T), (C,) -> (T,)"""
    cas = np.clip(np.asarray(cas, dtype=np.float64), 0.0, 1.0)
    if labels is not None:
        present = sorted(int(c) for c in labels if 0 <= int(c) < cas.shape[0])
    else:
        present = np.flatnonzero(np.asarray(video_scores) >= class_threshold).tolist()
    if not present:
        return np.ones(cas.shape[1])
    return 1.0 - cas[present].max(axis=0)


def spread_factor(times_s: np.ndarray, others_s: Sequence[float], spacing_s: float) -> np.ndarray:
    """min(1, distance to the nearest of ``others_s`` / ``spacing_s``); 1 without others.
    # (T,) -> (T,)"""
    times_s = np.asarray(times_s, dtype=np.float64)
    if len(others_s) == 0 or spacing_s <= 0:
        return np.ones(times_s.shape)
    d = np.abs(times_s[:, None] - np.asarray(others_s, dtype=np.float64)[None, :]).min(axis=1)
    return np.asarray(np.minimum(1.0, d / spacing_s))


def pick_coverage(
    times_s: np.ndarray,
    background: np.ndarray,
    click_times_s: Sequence[float],
    *,
    count: int,
    spacing_s: float,
    min_score: float,
    blocked: np.ndarray | None = None,
) -> list[tuple[int, float]]:
    """Farthest-point picks weighted by background belief: each pick maximises
    ``background · spread_factor`` with the clicks *and the picks so far*; ties to the earlier
    time. Returns (index, score) pairs, in pick order.  # (T,), (T,) -> ≤ count pairs"""
    taken: list[tuple[int, float]] = []
    others = list(click_times_s)
    for _ in range(count):
        score = background * spread_factor(times_s, others, spacing_s)
        if blocked is not None:
            score = np.where(blocked, -1.0, score)
        i = int(np.argmax(score))  # the first maximum: the earliest time
        if score[i] < min_score:
            break
        taken.append((i, float(score[i])))
        others.append(float(times_s[i]))
    return taken


def near_any(times_s: np.ndarray, others_s: Sequence[float], radius_s: float) -> np.ndarray:
    """For each time, whether one of ``others_s`` is strictly closer than ``radius_s``.

    # (N,) -> (N,) bool
    """
    times_s = np.asarray(times_s, dtype=np.float64)
    if len(others_s) == 0:
        return np.zeros(times_s.shape, dtype=bool)
    o = np.asarray(others_s, dtype=np.float64)
    return np.asarray((np.abs(times_s[:, None] - o[None, :]) < radius_s).any(axis=1))


def pick_peaks(
    times_s: np.ndarray,
    scores: np.ndarray,
    *,
    count: int,
    min_spacing_s: float,
    min_score: float,
    blocked: np.ndarray | None = None,
) -> list[int]:
    """Indices of the best scores, greedily, each ≥ ``min_spacing_s`` from those taken.

    Ties go to the earlier time; ``blocked`` (bool, same shape) are never taken.
    # (T,), (T,) -> list of ≤ count indices, best first
    """
    order = np.lexsort((times_s, -scores))  # score desc, then time asc
    taken: list[int] = []
    for i in order:
        if len(taken) >= count or scores[i] < min_score:
            break
        if blocked is not None and blocked[i]:
            continue
        if any(abs(times_s[i] - times_s[j]) < min_spacing_s for j in taken):
            continue
        taken.append(int(i))
    return taken


def signal_weight(config: SuggestConfig, name: str) -> float:
    """A signal's weight; one the weights do not name counts 1, except ``coverage`` (0: a
    rule of its own, only where asked for)."""
    return float(config.weights.get(name, 0.0 if name == COVERAGE else 1.0))


def rank_suggestions(
    cas: np.ndarray,
    video_scores: np.ndarray,
    segments: Sequence[SegmentT],
    duration_s: float,
    *,
    click_times_s: Sequence[float] = (),
    labels: Collection[int] | None = None,
    fg_filter: np.ndarray | None = None,
    fg_base: np.ndarray | None = None,
    config: SuggestConfig | None = None,
) -> list[Suggestion]:
    """Ranked moments where a background click would teach the model most (best first).

    cas: (C, T) normalised CAS; video_scores: (C,); segments: (start_s, end_s, class, score);
    click_times_s: the video's existing background clicks (any annotator); labels: class
    indices the video is labelled with, or None; fg_filter / fg_base: (T,) foreground
    beliefs of the filter and the base branch, or None. See the module docstring.
    """
    cfg = config or SuggestConfig()
    cas = np.asarray(cas)
    if cas.ndim != 2 or cas.shape[1] == 0 or duration_s <= 0:
        return []
    T = cas.shape[1]
    t = snippet_times(T, duration_s)
    curves = signal_curves(
        cas,
        video_scores,
        segments,
        duration_s,
        labels=labels,
        fg_filter=fg_filter,
        fg_base=fg_base,
        config=cfg,
        click_times_s=click_times_s,
    )
    blocked = near_any(t, list(click_times_s), cfg.click_radius_s)
    active = [n for n in REASONS if n in curves and signal_weight(cfg, n) > 0]
    if active == [COVERAGE]:  # the coverage rule alone: farthest-point picks
        spacing = duration_s / (len(click_times_s) + cfg.max_suggestions + 1)
        w = cfg.weights[COVERAGE]
        background = w * background_belief(cas, video_scores, labels, cfg.class_threshold)
        picks_scored = pick_coverage(
            t,
            background,
            click_times_s,
            count=cfg.max_suggestions,
            spacing_s=spacing,
            min_score=cfg.min_score,
            blocked=blocked,
        )
        return [Suggestion(float(t[i]), sc, COVERAGE, None) for i, sc in picks_scored]
    names = [n for n in REASONS if n in curves]
    weighted = np.stack([signal_weight(cfg, n) * curves[n][0] for n in names])  # (S, T)
    best = weighted.argmax(axis=0)  # (T,) first signal in REASONS order on ties
    score = weighted[best, np.arange(T)]  # (T,)
    picks = pick_peaks(
        t,
        score,
        count=cfg.max_suggestions,
        min_spacing_s=cfg.min_spacing_s,
        min_score=cfg.min_score,
        blocked=blocked,
    )
    result = []
    for i in picks:
        name = names[int(best[i])]
        cls = int(curves[name][1][i])
        result.append(Suggestion(float(t[i]), float(score[i]), name, cls if cls >= 0 else None))
    return result


# Click QA's min activation at the click (the product's default, BACKTAL_QA_MIN_ACTIVATION):
# chosen by docs/research/qa-planted.md, amendment 1 (pooled F1 on held-out folds of sims v3
# and v2, bg-click's model: 0.530 vs 0.473 and 0.552 vs 0.499 for no activation condition)
QA_MIN_ACTIVATION = 0.25
CurveT = tuple[list[float], np.ndarray]  # (times_s, (C, n) values)
CURVE_POINTS = 400  # activation curves are stored (and read by QA) at most this many points


def curve_points(cas: np.ndarray, duration_s: float, points: int = CURVE_POINTS) -> CurveT:
    """A video's activation curves as the product stores them: ``(times_s, (C, ≤ points))``.

    ``cas``: (C, T) min-max normalised CAS (``PredictionResult.cas``). Longer than ``points``,
    it is averaged into ``points`` equal bins of snippets (rounded bin edges; keeps the shape);
    point k stands at the centre of its span, ``(k + ½) · duration / n``.
    """
    curve = np.asarray(cas, dtype=np.float64)
    T = curve.shape[1]
    if points < T:
        edges = np.linspace(0, T, points + 1).round().astype(int)
        curve = np.stack([curve[:, a:b].mean(axis=1) for a, b in itertools.pairwise(edges)], axis=1)
    n = curve.shape[1]
    return [(k + 0.5) * duration_s / n for k in range(n)], curve


def activation_at(t_s: float, times_s: Sequence[float], values: Sequence[float]) -> float:
    """A curve read at ``t_s``: linear between its points, the end value beyond them.

    ``times_s`` ascending; [] gives nan.
    """
    if len(times_s) == 0:
        return float("nan")
    return float(np.interp(t_s, np.asarray(times_s, float), np.asarray(values, float)))


def flag_click(
    t_s: float,
    segments: Sequence[SegmentT],
    gt_segments: Sequence[GTSegmentT] = (),
    *,
    min_score: float,
    margin_s: float = 0.0,
    min_activation: float | None = None,
    activations: Mapping[int, tuple[Sequence[float], Sequence[float]]] | None = None,
) -> list[ClickFlag]:
    """Why a background click at ``t_s`` looks wrong ([] when it does not).

    Flagged: inside a predicted segment with ``score ≥ min_score`` (a confident one), or inside
    a ground-truth segment; "inside" means ``start + margin_s ≤ t_s ≤ end − margin_s`` (a click
    near an edge is not flagged: edges are uncertain). With ``min_activation`` τ, a predicted
    segment of class c flags only where ``activation_at(t_s, *activations[c]) ≥ τ``
    (``activations``: class → (times_s, values), the stored curves; a class without a curve
    is not filtered). One flag per segment, predictions first, each in the given order.
    """

    def active(c: int) -> bool:
        if min_activation is None or activations is None or c not in activations:
            return True
        return activation_at(t_s, *activations[c]) >= min_activation

    flags = [
        ClickFlag(INSIDE_PREDICTION, int(c), float(a), float(b), float(s))
        for a, b, c, s in segments
        if s >= min_score and a + margin_s <= t_s <= b - margin_s and active(int(c))
    ]
    flags += [
        ClickFlag(INSIDE_GROUND_TRUTH, int(c), float(a), float(b), None)
        for a, b, c in gt_segments
        if a + margin_s <= t_s <= b - margin_s
    ]
    return flags


def edge_distance(t_s: float, start_s: float, end_s: float) -> tuple[float, str]:
    """How far ``t_s`` lies inside ``[start_s, end_s]`` and which edge is nearer.

    Returns ``(depth_s, edge)``: ``depth_s = min(t − start, end − t)`` (negative outside the
    segment), ``edge`` "start" or "end" (the nearer one; "start" on a tie). A reviewer deciding
    whether a flagged click is wrong needs this: most clicks of a human annotator that fall
    inside an action lie within a fraction of a second of its edge (docs/guided.md).
    """
    to_start = t_s - start_s
    to_end = end_s - t_s
    if to_start <= to_end:
        return float(to_start), "start"
    return float(to_end), "end"
