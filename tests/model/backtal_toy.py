"""Tiny synthetic videos for the trainer tests (CPU, milliseconds per step).

Imported by the tests as ``tests.model.backtal_toy``.
"""

from __future__ import annotations

import numpy as np

from model.config import ModelConfig
from model.data import VideoItem

SNIPPET_S = 0.64  # 16 frames at 25 fps


def make_toy_videos(
    count: int,
    seed: int = 0,
    num_classes: int = 2,
    dim: int = 16,
    length: int | tuple[int, int] = 48,
) -> list[VideoItem]:
    """Videos with one planted action each, flanked by "context" snippets.

    Background = per-video scene vector + noise. Action = scene + class pattern + motion.
    Context (a few snippets right before and after the action) = scene + 0.8 · class pattern,
    without motion: video-level labels alone cannot tell it from the action, background
    clicks placed on it can. One SF-Net style action click sits mid-action.
    """
    rng = np.random.default_rng(seed)
    patterns = np.random.default_rng(1234).normal(size=(num_classes, dim)).astype(np.float32)
    motion = np.random.default_rng(99).normal(size=dim).astype(np.float32)
    items = []
    for i in range(count):
        t = length if isinstance(length, int) else int(rng.integers(length[0], length[1] + 1))
        cls = i % num_classes
        scene = rng.normal(size=dim).astype(np.float32)
        feats = scene + 0.3 * rng.normal(size=(t, dim)).astype(np.float32)
        size = max(4, t // 6)
        start = int(rng.integers(t // 4, t - t // 4 - size))
        end = start + size
        ctx = 3
        feats[start:end] += 1.5 * patterns[cls] + 1.5 * motion
        feats[start - ctx : start] += 0.8 * patterns[cls]
        feats[end : end + ctx] += 0.8 * patterns[cls]
        bg = sorted({start - 2, end + 1, int(rng.integers(0, start - ctx)), t - 2})
        labels = np.zeros(num_classes, dtype=np.float32)
        labels[cls] = 1.0
        items.append(
            VideoItem(
                name=f"video_{seed}_{i:03d}",
                features=feats.astype(np.float32),
                labels=labels,
                fps=25.0,
                duration=t * SNIPPET_S,
                frame_num=t * 16,
                bg_clicks=np.array(bg, dtype=np.int64),
                action_clicks=np.array([[(start + end) // 2, cls]], dtype=np.int64),
                gt_segments=[(start * SNIPPET_S, end * SNIPPET_S, cls)],
            )
        )
    return items


def tiny_model_config(dim: int = 16, num_classes: int = 2, **kw: object) -> ModelConfig:
    base: dict[str, object] = {
        "feature_dim": dim,
        "num_classes": num_classes,
        "hidden": 32,
        "embed_dim": 8,
        "embed_hidden": 16,
        "filter_hidden": 16,
        "dropout": 0.2,
        "input_norm": "none",  # the published network; tests of the studio recipe set it
    }
    base.update(kw)
    return ModelConfig(**base)  # type: ignore[arg-type]
