"""model/timebase.py: the one time → snippet rule (trainer and sim here; the server's use
is checked in tests/server/test_timebase.py)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from model import data, sim
from model.timebase import snippet_index


def test_the_trainer_and_the_sim_use_the_one_rule() -> None:
    assert data.snippet_index is snippet_index
    assert sim.snippet_index is snippet_index


def test_hand_computed_values() -> None:
    assert snippet_index(0.0, 20.0, 750) == 0
    assert snippet_index(10.0, 20.0, 750) == 375
    assert snippet_index(21.5, 100.0, 750) == 161  # floor(161.25)
    assert snippet_index(0.9999, 3.0, 750) == 249  # floor(249.975)
    assert snippet_index(1.0, 3.0, 750) == 250  # 1/3·750 is 249.99999999999997 in floats
    assert snippet_index(20.0, 20.0, 750) == 749  # the end: min(T − 1, T)
    assert snippet_index(1e9, 20.0, 750) == 749
    assert snippet_index(-0.1, 20.0, 750) == 0  # before the start: clamped
    assert snippet_index(0.5, 1.0, 1) == 0


@pytest.mark.parametrize("T", [1, 7, 100, 750, 751])
@pytest.mark.parametrize("duration", [1.0, 3.0, 4.0, 29.97, 100.1, 1001 / 30000 * 5171])
def test_boundaries_land_in_their_snippet(duration: float, T: int) -> None:
    """``k · duration / T`` (computed in floats) is in snippet k; a hair before is in k − 1."""
    for k in range(T):
        t = k * duration / T
        assert snippet_index(t, duration, T) == k, (k, t)
        assert snippet_index(t + 1e-3 * duration / T, duration, T) == k
        if k > 0:
            assert snippet_index(t - 1e-3 * duration / T, duration, T) == k - 1


def test_matches_exact_arithmetic_away_from_boundaries() -> None:
    """Against exact rational arithmetic on a grid of times (no float tolerance needed)."""
    duration, T = Fraction(4171, 100), 750
    for i in range(0, 4171 * 7 + 1, 13):
        t = Fraction(i, 700)  # up to the very end
        exact = min(T - 1, math.floor(t / duration * T))
        assert snippet_index(float(t), float(duration), T) == exact, t


@pytest.mark.parametrize(
    "args", [(1.0, 0.0, 750), (1.0, -2.0, 750), (1.0, 20.0, 0), (math.nan, 20.0, 750)]
)
def test_refuses_meaningless_input(args: tuple[float, float, int]) -> None:
    with pytest.raises(ValueError):
        snippet_index(*args)
