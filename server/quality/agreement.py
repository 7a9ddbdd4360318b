"""Pure functions of annotator agreement (no database): Cohen's kappa, Jaccard, and the
video-label agreement of several annotators. Hand-computed tests in
``tests/server/quality/test_agreement.py``.

Which videos count: a video takes part for a pair of annotators when **both** gave it at
least one video-level label (an annotator who only clicked, or has not opened the video,
said nothing about its classes). With more than two annotators every pair is compared;
the per-class kappa pools the pairs' 2×2 tables (each (pair, video) is one item rated by
two raters, the lower annotator id first), which is Cohen's kappa when there are two.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa of two raters' yes/no answers on the same items.

    None when it is undefined: no items, or both raters gave one and the same answer to
    every item (chance agreement 1).
    """
    if len(a) != len(b):
        raise ValueError("both raters must rate the same items")
    n = len(a)
    if n == 0:
        return None
    po = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa = sum(a) / n
    pb = sum(b) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    if pe >= 1.0:
        return None
    return (po - pe) / (1 - pe)


def jaccard(x: Collection[int], y: Collection[int]) -> float:
    """|x ∩ y| / |x ∪ y|; two empty sets agree completely (1)."""
    sx, sy = set(x), set(y)
    union = sx | sy
    return len(sx & sy) / len(union) if union else 1.0


def median_seconds(elapsed_ms: Sequence[float]) -> float | None:
    """Median of per-click times in seconds (None without any)."""
    return statistics.median(elapsed_ms) / 1000.0 if elapsed_ms else None


@dataclass(frozen=True)
class PairAgreement:
    annotators: tuple[int, int]
    videos: int
    mean_jaccard: float


@dataclass(frozen=True)
class LabelAgreement:
    videos: int  # videos labelled by two or more annotators
    pairs: list[PairAgreement] = field(default_factory=list)
    kappa: dict[int, float | None] = field(default_factory=dict)  # class → pooled kappa
    mean_jaccard: float | None = None  # over every (pair, shared video)


def label_agreement(
    labels: Mapping[int, Mapping[int, Collection[int]]], classes: Sequence[int]
) -> LabelAgreement:
    """labels: annotator → video → the classes they labelled (videos with ≥ 1 label only)."""
    pairs: list[PairAgreement] = []
    rated: dict[int, tuple[list[bool], list[bool]]] = {c: ([], []) for c in classes}
    all_j: list[float] = []
    shared_videos: set[int] = set()
    for a, b in itertools.combinations(sorted(labels), 2):
        la, lb = labels[a], labels[b]
        shared = sorted(v for v in la if la[v] and v in lb and lb[v])
        if not shared:
            continue
        shared_videos.update(shared)
        js = [jaccard(la[v], lb[v]) for v in shared]
        all_j += js
        pairs.append(PairAgreement((a, b), len(shared), sum(js) / len(js)))
        for v in shared:
            for c in classes:
                rated[c][0].append(c in la[v])
                rated[c][1].append(c in lb[v])
    return LabelAgreement(
        videos=len(shared_videos),
        pairs=pairs,
        kappa={c: cohen_kappa(*rated[c]) for c in classes},
        mean_jaccard=sum(all_j) / len(all_j) if all_j else None,
    )
