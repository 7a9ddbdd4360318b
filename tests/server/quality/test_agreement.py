"""server/quality/agreement.py on hand-computed cases."""

from __future__ import annotations

import pytest

from server.quality.agreement import (
    PairAgreement,
    cohen_kappa,
    jaccard,
    label_agreement,
    median_seconds,
)


def test_cohen_kappa_by_hand() -> None:
    # po = 3/4; pa = 1/2, pb = 1/4; pe = 1/2·1/4 + 1/2·3/4 = 1/2; κ = (3/4 − 1/2) / (1/2) = 1/2
    assert cohen_kappa([True, True, False, False], [True, False, False, False]) == 0.5
    assert cohen_kappa([True, False], [True, False]) == 1.0
    assert cohen_kappa([True, False], [False, True]) == -1.0
    assert cohen_kappa([True, True], [True, True]) is None  # chance agreement 1: undefined
    assert cohen_kappa([], []) is None
    with pytest.raises(ValueError):
        cohen_kappa([True], [])


def test_jaccard_and_median() -> None:
    assert jaccard({1, 2}, {2, 3}) == pytest.approx(1 / 3)
    assert jaccard(set(), set()) == 1.0
    assert jaccard({1}, set()) == 0.0
    assert median_seconds([1000, 3000, 2000, 100_000]) == 2.5  # a break does not move it
    assert median_seconds([]) is None


LABELS = {
    1: {1: {10}, 2: {10, 20}, 3: {20}},
    2: {1: {10}, 2: {10}, 4: {20}},
    3: {5: {10}},
}


def test_label_agreement_two_annotators_by_hand() -> None:
    got = label_agreement(LABELS, [10, 20])
    # only (1, 2) share videos: v1 J = 1, v2 J = 1/2
    assert got.videos == 2
    assert got.pairs == [PairAgreement((1, 2), 2, 0.75)]
    assert got.mean_jaccard == 0.75
    # class 10: both say yes on both videos: undefined; class 20: a = [no, yes], b = [no, no]:
    # po = 1/2, pa = 1/2, pb = 0, pe = 1/2 → κ = 0
    assert got.kappa == {10: None, 20: 0.0}


def test_label_agreement_pools_pairs_by_hand() -> None:
    labels = {k: dict(v) for k, v in LABELS.items()}
    labels[3][1] = {20}
    got = label_agreement(labels, [10, 20])
    assert [(p.annotators, p.videos) for p in got.pairs] == [((1, 2), 2), ((1, 3), 1), ((2, 3), 1)]
    assert got.mean_jaccard == pytest.approx((1 + 0.5 + 0 + 0) / 4)
    # class 10 items (1,2,v1) yy (1,2,v2) yy (1,3,v1) yn (2,3,v1) yn: po 1/2, pa 1, pb 1/2,
    # pe 1/2 → 0; class 20: nn yn ny ny: po 1/4, pa 1/4, pb 1/2, pe 1/2 → −1/2
    assert got.kappa == {10: 0.0, 20: -0.5}
    assert got.videos == 2


def test_label_agreement_without_overlap() -> None:
    got = label_agreement({1: {1: {10}}, 2: {2: {10}}, 3: {1: set()}}, [10])
    assert got.videos == 0 and got.pairs == [] and got.mean_jaccard is None
    assert got.kappa == {10: None}
