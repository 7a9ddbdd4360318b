"""Per-snippet video features (16 frames at 25 fps per snippet), extractors by name.

>>> from model.features import get_extractor
>>> ex = get_extractor("tiny-stats")
>>> feats = ex.extract("clip.mp4")  # (T, ex.dim) float32, snippet i starts at 0.64·i s
"""

from model.features.base import (
    ExtractionCancelled,
    ExtractorUnavailable,
    FeatureExtractor,
    ProgressFn,
    StopFn,
    VideoReadError,
)
from model.features.frames import Snippet, iter_resampled_frames, iter_snippets
from model.features.registry import (
    DEFAULT_EXTRACTOR,
    available_extractors,
    get_extractor,
    register_extractor,
)

__all__ = [
    "DEFAULT_EXTRACTOR",
    "ExtractionCancelled",
    "ExtractorUnavailable",
    "FeatureExtractor",
    "ProgressFn",
    "Snippet",
    "StopFn",
    "VideoReadError",
    "available_extractors",
    "get_extractor",
    "iter_resampled_frames",
    "iter_snippets",
    "register_extractor",
]
