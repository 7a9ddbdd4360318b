"""Tiny-data training: every supervision mode drives its losses down; bg-click localizes."""

from __future__ import annotations

import numpy as np
import pytest

from model.config import SUPERVISION_MODES
from model.evaluate import segment_iou
from model.recipes import train_config
from model.train import fit, predict
from tests.model.backtal_toy import make_toy_videos, tiny_model_config

ACTIVE_TERMS = {
    "weak": ["video_base", "video_supp"],
    "action-click": ["video_base", "video_supp", "click"],
    "bg-click": ["video_base", "video_supp", "click", "separation", "embedding"],
    "both": ["video_base", "video_supp", "click", "separation", "embedding"],
}
# the base branch's target is [y, 1] / 2: its cross-entropy cannot go below ln 2
FLOOR = {"video_base": float(np.log(2.0))}


@pytest.mark.parametrize("mode", SUPERVISION_MODES)
def test_each_mode_drives_its_losses_down(mode: str) -> None:
    items = make_toy_videos(4, seed=0)
    config = train_config(
        "published", supervision=mode, epochs=200, batch_size=4, lr=1e-3, holdout_fraction=0
    )
    result = fit(config, tiny_model_config(), items)

    def mean_of(epochs: list[dict], term: str) -> float:
        return float(np.mean([h["losses"][term] for h in epochs]))

    first, last = result.history[:3], result.history[-5:]
    for term in ACTIVE_TERMS[mode]:
        floor = FLOOR.get(term, 0.0)
        before, after = mean_of(first, term) - floor, mean_of(last, term) - floor
        assert after < 0.5 * before, (term, before, after)
    assert mean_of(last, "total") < 0.6 * mean_of(first, "total")
    for term in {"click", "separation", "embedding"} - set(ACTIVE_TERMS[mode]):
        assert mean_of(result.history, term) == 0.0, term


def test_bg_click_localizes_the_planted_action_on_new_videos() -> None:
    train = make_toy_videos(16, seed=0)
    config = train_config(
        "published", supervision="bg-click", epochs=60, batch_size=4, lr=1e-3, holdout_fraction=0
    )
    model = fit(config, tiny_model_config(dropout=0.7), train).model
    fresh = make_toy_videos(4, seed=1)
    preds = predict(model, fresh, config.post)
    for item in fresh:
        assert item.gt_segments is not None
        start, end, cls = item.gt_segments[0]
        result = preds[item.name]
        assert int(np.argmax(result.video_scores)) == cls
        own = [s for s in result.segments if s[2] == cls]
        assert own, f"{item.name}: class {cls} not detected"
        best = max(own, key=lambda s: s[3])
        iou = segment_iou(np.array([start, end]), np.array([[best[0], best[1]]]))[0]
        assert iou >= 0.5, (item.name, (start, end), best)
