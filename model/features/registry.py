"""Extractors by name: ``get_extractor("effnet-lite0+dis-flow")``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from model.features.base import FeatureExtractor

DEFAULT_EXTRACTOR = "effnet-lite0+dis-flow"

_FACTORIES: dict[str, Callable[..., FeatureExtractor]] = {}


def register_extractor(name: str, factory: Callable[..., FeatureExtractor]) -> None:
    """Make ``factory(**kwargs)`` available as ``get_extractor(name, **kwargs)``."""
    if name in _FACTORIES:
        raise ValueError(f"extractor {name!r} is already registered")
    _FACTORIES[name] = factory


def available_extractors() -> list[str]:
    return sorted(_FACTORIES)


def get_extractor(name: str = DEFAULT_EXTRACTOR, **kwargs: Any) -> FeatureExtractor:
    """A new extractor instance; ``KeyError`` (listing the known names) if unknown."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise KeyError(
            f"unknown feature extractor {name!r}; known: {', '.join(available_extractors())}"
        ) from None
    return factory(**kwargs)


def _register_builtins() -> None:
    from model.features.effnet_flow import EffNetLite0DisFlowExtractor
    from model.features.tiny_stats import TinyStatsExtractor

    register_extractor(EffNetLite0DisFlowExtractor.name, EffNetLite0DisFlowExtractor)
    register_extractor(TinyStatsExtractor.name, TinyStatsExtractor)


_register_builtins()
