"""The server's time conventions: the snippet rule is model/timebase.py's, not a copy."""

from __future__ import annotations

from model.timebase import snippet_index
from server import timebase
from server.training import dataset


def test_server_uses_the_model_snippet_rule() -> None:
    assert timebase.snippet_index is snippet_index
    assert dataset.snippet_index is snippet_index


def test_frame_index_boundaries_and_clamping() -> None:
    assert timebase.frame_index(0.0, 25.0, 100) == 0
    assert timebase.frame_index(1.0, 25.0, 100) == 25  # exactly on a frame boundary
    assert timebase.frame_index(0.2 * 3, 25.0, 100) == 15  # 0.6000000000000001 · 25
    assert timebase.frame_index(1001 / 30000 * 7, 30000 / 1001, 100) == 7
    assert timebase.frame_index(4.0, 25.0, 100) == 99
    assert timebase.frame_index(-0.5, 25.0, 100) == 0
