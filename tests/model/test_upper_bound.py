"""model.upper_bound: the fully supervised snippet classifier's targets by hand, its padding,
its outputs (posteriors as CAS), and a fit that localizes a toy whose features say the class."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.config import ModelConfig, TrainConfig
from model.data import IGNORE, VideoItem
from model.upper_bound import (
    SnippetClassifier,
    fit_upper,
    predict_upper,
    snippet_targets,
    stack_batch,
    upper_outputs,
)


def _item(name: str, T: int, duration: float, gt, features=None) -> VideoItem:
    return VideoItem(
        name=name,
        features=np.zeros((T, 4), dtype=np.float32) if features is None else features,
        labels=np.zeros(2, dtype=np.float32),
        fps=30.0,
        duration=duration,
        frame_num=int(duration * 30),
        gt_segments=list(gt),
    )


def test_targets_follow_the_gt_and_the_shorter_instance_wins() -> None:
    item = _item("v", 10, 10.0, [(2.0, 5.0, 1), (3.0, 4.0, 0)])
    # snippet centres 0.5, 1.5, ...; [2, 5) covers 2.5, 3.5, 4.5; [3, 4) (shorter) covers 3.5
    assert snippet_targets(item, 2).tolist() == [2, 2, 1, 0, 1, 2, 2, 2, 2, 2]
    # an end is exclusive: a centre exactly on it is background
    assert snippet_targets(_item("w", 4, 4.0, [(0.0, 1.5, 0)]), 2).tolist() == [0, 2, 2, 2]
    assert snippet_targets(_item("x", 3, 3.0, []), 5).tolist() == [5, 5, 5]


def test_batches_are_padded_with_ignore() -> None:
    a = _item("a", 3, 3.0, [(0.0, 1.0, 1)], np.ones((3, 4), dtype=np.float32))
    b = _item("b", 5, 5.0, [], 2 * np.ones((5, 4), dtype=np.float32))
    x, y = stack_batch([a, b], 2)
    assert tuple(x.shape) == (2, 4, 5) and tuple(y.shape) == (2, 5)
    assert y[0].tolist() == [1, 2, 2, IGNORE, IGNORE] and y[1].tolist() == [2] * 5
    assert float(x[0, :, 3:].abs().sum()) == 0.0 and float(x[1].min()) == 2.0


def test_outputs_are_class_posteriors_and_their_maximum() -> None:
    torch.manual_seed(0)
    model = SnippetClassifier(4, 6, 2, 0.0)
    item = _item("v", 7, 7.0, [], np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32))
    cas, scores, mags = upper_outputs(model, [item], 2, torch.device("cpu"))["v"]
    logits, h1 = model(torch.from_numpy(item.features.T.copy())[None])
    probs = torch.softmax(logits[0], 0).detach().numpy()
    assert cas.shape == (2, 7) and np.allclose(cas, probs[:2])  # background row dropped
    assert np.allclose(1.0 - cas.sum(0), probs[2], atol=1e-6)
    assert np.allclose(scores, probs[:2].max(1))
    assert np.allclose(mags, h1[0].norm(dim=0).detach().numpy())


def _toy(n: int, rng: np.random.Generator) -> list[VideoItem]:
    """Videos of 20 one-second snippets with one action of class n % 2 at 5–12 s: feature 0
    or 1 says the class inside it, feature 2 says background, feature 3 is noise."""
    items = []
    for i in range(n):
        c = i % 2
        feats = rng.normal(0.0, 0.1, size=(20, 4)).astype(np.float32)
        feats[5:12, c] += 1.0
        feats[:5, 2] += 1.0
        feats[12:, 2] += 1.0
        item = _item(f"v{i}", 20, 20.0, [(5.0, 12.0, c)], feats)
        item.labels[c] = 1.0
        items.append(item)
    return items


def test_fit_localizes_what_the_features_say_and_returns_the_best_epoch() -> None:
    rng = np.random.default_rng(0)
    items = _toy(8, rng)
    config = TrainConfig(
        epochs=15, batch_size=4, lr=1e-2, seed=0, device="cpu", holdout_fraction=0.25
    )
    model_config = ModelConfig(feature_dim=4, num_classes=2, hidden=8, dropout=0.0)
    seen: list[int] = []
    model, best_epoch, history = fit_upper(
        config, model_config, items, on_progress=lambda info: seen.append(info["epoch"])
    )
    assert seen == list(range(1, 16)) and len(history) == 15
    held = [h["val"]["mAP_0.1_0.7"] for h in history]
    assert best_epoch == 1 + int(np.argmax(held))  # the first best held-out epoch
    assert history[-1]["losses"]["snippet_ce"] < history[0]["losses"]["snippet_ce"]
    test = _toy(4, np.random.default_rng(1))
    preds = predict_upper(model, test, config.post, 2, torch.device("cpu"))
    for it in test:
        start, end, label, _ = max(preds[it.name], key=lambda s: s[3])
        assert label == it.gt_segments[0][2]  # the best segment has the video's class ...
        assert start == pytest.approx(5.0, abs=1.5) and end == pytest.approx(12.0, abs=1.5)
