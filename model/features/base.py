"""The feature-extractor interface shared by every extractor.

An extractor turns a video file into one feature vector per *snippet*: the video is
resampled to ``fps`` (25) frames per second and cut into consecutive, non-overlapping groups
of ``snippet_frames`` (16) frames, so snippet ``i`` starts at ``i * 16 / 25 = 0.64 * i`` s
(see ``frames.py`` for the resampling rule and the last, partial snippet).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

ProgressFn = Callable[[float], None]
StopFn = Callable[[], bool]


class ExtractionCancelled(Exception):
    """``should_stop()`` returned True; extraction stopped without a result."""


class VideoReadError(ValueError):
    """The video cannot be opened or decoded (message written for a person)."""


class ExtractorUnavailable(RuntimeError):
    """The extractor's dependencies (e.g. its weights package) are not installed."""


class FeatureExtractor(ABC):
    """Turns a video into a ``(T, dim)`` float32 array, one row per snippet."""

    #: Registry name, stored beside the features (e.g. ``"effnet-lite0+dis-flow"``).
    name: str = ""
    #: Feature dimension D.
    dim: int = 0
    #: Frames per snippet, after resampling to ``fps``.
    snippet_frames: int = 16
    #: Frame rate every video is resampled to before snippets are cut.
    fps: int = 25

    @abstractmethod
    def extract(
        self,
        video_path: str | os.PathLike[str],
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> np.ndarray:
        """Return the features, shape ``(T, self.dim)``, dtype float32.

        ``progress(fraction)`` receives values in [0, 1] (1.0 at the end); ``should_stop()``
        is polled once per snippet and makes this raise ``ExtractionCancelled``. A file
        that cannot be opened or decoded raises ``VideoReadError``.
        """

    def snippet_start_times(self, t: int) -> np.ndarray:
        """Start time in seconds of each of ``t`` snippets, shape ``(t,)``."""
        return np.arange(t, dtype=np.float64) * (self.snippet_frames / self.fps)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} dim={self.dim}>"
