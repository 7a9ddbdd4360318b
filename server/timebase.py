"""Time conventions, shared by the API, the worker and (mirrored) the browser code.

Time is stored in seconds; the frame index beside it follows one rule everywhere:
``frame = floor(t · fps)`` (clamped to the video), and the official snippet index of the
BackTAL features is ``min(T − 1, floor(t / duration · T))``. A tiny tolerance keeps a time
that lands exactly on a frame boundary (``k / fps``) in frame ``k`` despite rounding.

The snippet rule has one home, :mod:`model.timebase` (the trainer uses it too); it is
re-exported here so the server's time conventions are in one import.
"""

from __future__ import annotations

import math

from model.timebase import snippet_index

__all__ = ["EPS", "format_seconds", "frame_index", "snippet_index"]

EPS = 1e-6


def frame_index(t_s: float, fps: float, frame_count: int) -> int:
    """The frame shown at time ``t_s``: ``floor(t·fps)``, clamped to ``[0, frame_count − 1]``."""
    if fps <= 0 or frame_count <= 0:
        raise ValueError("fps and frame_count must be positive")
    return max(0, min(frame_count - 1, math.floor(t_s * fps + EPS)))


def format_seconds(t: float) -> str:
    """Seconds as the COIN click files write them: ``79``, ``21.5``, ``12.04``."""
    text = repr(float(t))
    return text[:-2] if text.endswith(".0") else text
