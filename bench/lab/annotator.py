"""The simulated annotator of the guided benchmarks, and the click sets they compare.

* A1's error rate (:func:`a1_error_rate`): the share of a click file's background clicks on
  training videos whose time lies inside a GT instance of the video (A1: 175 of 2264).
* :func:`simulate_round`: answers suggested moments from the sim's ground truth — a
  background moment gets a click, a moment inside an action a pass or, with probability
  ``p = min(1, ε/(1 − ε) · B/A)``, a click anyway (an error), so that in expectation ``ε`` of
  its clicks lie inside actions, as A1's do. Seeded.
* Baselines at a given count: :func:`a1_subset` (a seeded, nested subset of A1's clicks) and
  :func:`random_background` (seeded, nested uniform background snippets per video).
* Where clicks lie: :func:`inside_gt`, :func:`click_places`, :func:`background_snippets`.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.lab.training import Clicks
from model import sim
from model.data import VideoItem
from model.suggest import snippet_times
from model.timebase import snippet_index


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


def seeded_rng(*keys: int | str) -> np.random.Generator:
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


def error_probability(error_rate: float, n_bg: int, n_action: int) -> float:
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
    rng = seeded_rng(seed, round_index, "annotator")
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

    p_error = error_probability(error_rate, len(pool) - sum(truth), sum(truth))
    for _ in range(10):
        state, answered, errors, passes = walk(p_error)
        n_action = sum(truth[:answered])
        p_next = error_probability(error_rate, answered - n_action, n_action)
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
    order = seeded_rng(seed, "a1-subset").permutation(len(pairs))[:count]
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
        snippets = seeded_rng(seed, item.name, "random-bg").permutation(background_snippets(item))
        out[item.name] = sorted(int(k) for k in snippets[:n])
    return out
