"""What it costs an annotator to turn predicted segments into full temporal labels.

The cost model of docs/research/correction.md (pure Python, no torch; the server may import
it): counted are the annotate page's edit operations — draw a segment (3: start, end, class),
accept a shown prediction (1), delete a shown one (1), drag an edge that is off by more than
the tolerance (1 each), change the class (1). A shown prediction becomes at most one GT
instance it overlaps in time, and an instance comes from at most one prediction; which one
becomes which is the assignment of least total cost (:func:`min_cost_assignment`).

``Prices`` holds the policy: ``review`` (every shown segment is accepted or deleted, the
issue's model), ``bulk`` (Shift+P accepts every shown segment of a class at once: 1 per
class, then the wrong ones are deleted), ``pick`` (only the right ones are accepted; wrong
ones are left alone at no cost).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

GTSegment = tuple[float, float, int]  # (start_s, end_s, class index)
PredSegment = tuple[float, float, int, float]  # (start_s, end_s, class index, score)

MIN_TOLERANCE_S = 0.5


@dataclass(frozen=True)
class Prices:
    new_segment: int = 3
    accept: int = 1
    delete: int = 1
    edge_drag: int = 1
    class_change: int = 1
    per_class: int = 0  # bulk accept: once per class among the shown segments of a video


POLICIES: dict[str, Prices] = {
    "review": Prices(),
    "bulk": Prices(accept=0, per_class=1),
    "pick": Prices(delete=0),
}


@dataclass(frozen=True)
class Cost:
    """The operations one video (or a sum of videos) takes, and their price."""

    accepts: int = 0
    deletes: int = 0
    drags: int = 0
    class_changes: int = 0
    new_segments: int = 0
    bulk_accepts: int = 0
    total: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(*(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__))


def edge_tolerance(duration_s: float, num_snippets: int, min_s: float = MIN_TOLERANCE_S) -> float:
    """An edge this close to the GT's needs no drag: ``max(min_s, one snippet)``, one snippet
    = ``duration_s / num_snippets`` (``num_snippets`` ≤ 0: ``min_s`` only)."""
    if num_snippets <= 0:
        return min_s
    return max(min_s, duration_s / num_snippets)


def overlaps(pred: PredSegment | GTSegment, gt: GTSegment) -> bool:
    """Whether two segments share time (an intersection longer than 0)."""
    return min(pred[1], gt[1]) - max(pred[0], gt[0]) > 0


def fixes(pred: PredSegment, gt: GTSegment, tolerance_s: float) -> tuple[int, int] | None:
    """(edge drags, class changes) that turn ``pred`` into ``gt``; None when they do not
    overlap (such a prediction is never dragged onto the instance)."""
    if not overlaps(pred, gt):
        return None
    drags = int(abs(pred[0] - gt[0]) > tolerance_s) + int(abs(pred[1] - gt[1]) > tolerance_s)
    return drags, int(int(pred[2]) != int(gt[2]))


def min_cost_assignment(cost: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """A least-cost assignment of the rows of a rectangular matrix to distinct columns
    (Hungarian algorithm with potentials, O(n² m)). Rows ≤ columns: every row is assigned;
    otherwise every column is. Returns (row, column) pairs sorted by row."""
    n = len(cost)
    m = len(cost[0]) if n else 0
    if n == 0 or m == 0:
        return []
    if n > m:
        flipped = [[cost[i][j] for i in range(n)] for j in range(m)]
        return sorted((i, j) for j, i in min_cost_assignment(flipped))
    inf = float("inf")
    u = [0.0] * (n + 1)
    v = [0.0] * (m + 1)
    match = [0] * (m + 1)  # match[j] = row (1-based) assigned to column j; 0 = free
    way = [0] * (m + 1)
    for i in range(1, n + 1):
        match[0] = i
        j0 = 0
        minv = [inf] * (m + 1)
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0, delta, j1 = match[j0], inf, 0
            row = cost[i0 - 1]
            for j in range(1, m + 1):
                if not used[j]:
                    cur = row[j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(m + 1):
                if used[j]:
                    u[match[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if match[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            match[j0] = match[j1]
            j0 = j1
    return sorted((match[j] - 1, j - 1) for j in range(1, m + 1) if match[j])


def _components(edges: Sequence[tuple[int, int]], n_pred: int) -> list[tuple[list[int], list[int]]]:
    """Connected components of the bipartite graph of useful (prediction, instance) pairs:
    (prediction indices, instance indices) of each (predictions are nodes 0…n_pred−1,
    instance j is node n_pred + j)."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p, g in edges:
        a, b = find(p), find(n_pred + g)
        if a != b:
            parent[a] = b
    groups: dict[int, tuple[set[int], set[int]]] = {}
    for p, g in edges:
        preds, gts = groups.setdefault(find(p), (set(), set()))
        preds.add(p)
        gts.add(g)
    return [(sorted(p), sorted(g)) for p, g in groups.values()]


def match_segments(
    gt: Sequence[GTSegment],
    shown: Sequence[PredSegment],
    tolerance_s: float,
    prices: Prices = POLICIES["review"],
) -> list[tuple[int, int]]:
    """Which shown prediction becomes which GT instance: (prediction index, instance index)
    pairs of least total cost. A pair is only made when it saves something: ``accept + drags
    + class change`` below ``delete + new segment``."""
    edges: dict[tuple[int, int], int] = {}
    for i, p in enumerate(shown):
        for j, g in enumerate(gt):
            fix = fixes(p, g, tolerance_s)
            if fix is None:
                continue
            saving = (
                prices.delete
                + prices.new_segment
                - prices.accept
                - prices.edge_drag * fix[0]
                - prices.class_change * fix[1]
            )
            if saving > 0:
                edges[i, j] = saving
    pairs: list[tuple[int, int]] = []
    for preds, gts in _components(list(edges), len(shown)):
        matrix = [[-float(edges.get((p, g), 0)) for g in gts] for p in preds]
        for r, c in min_cost_assignment(matrix):
            if (preds[r], gts[c]) in edges:
                pairs.append((preds[r], gts[c]))
    return sorted(pairs)


def shown_segments(segments: Sequence[PredSegment], min_score: float | None) -> list[PredSegment]:
    """The predictions an annotator is shown: those scoring ≥ ``min_score`` (None: none)."""
    if min_score is None:
        return []
    return [s for s in segments if s[3] >= min_score]


def correction_cost(
    gt: Sequence[GTSegment],
    shown: Sequence[PredSegment],
    tolerance_s: float,
    prices: Prices = POLICIES["review"],
) -> Cost:
    """The operations that turn the ``shown`` predictions of one video into its ``gt``."""
    pairs = match_segments(gt, shown, tolerance_s, prices)
    drags = changes = 0
    for i, j in pairs:
        fix = fixes(shown[i], gt[j], tolerance_s)
        assert fix is not None
        drags += fix[0]
        changes += fix[1]
    accepts, deletes = len(pairs), len(shown) - len(pairs)
    new = len(gt) - len(pairs)
    bulk = len({int(s[2]) for s in shown}) if prices.per_class else 0
    total = (
        prices.accept * accepts
        + prices.delete * deletes
        + prices.edge_drag * drags
        + prices.class_change * changes
        + prices.new_segment * new
        + prices.per_class * bulk
    )
    return Cost(accepts, deletes, drags, changes, new, bulk, total)


def scratch_cost(gt: Sequence[GTSegment], prices: Prices = POLICIES["review"]) -> Cost:
    """Drawing every GT instance of a video from scratch."""
    return Cost(new_segments=len(gt), total=prices.new_segment * len(gt))
