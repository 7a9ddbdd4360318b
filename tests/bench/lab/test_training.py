"""bench.lab.training: the legacy recipe's configs, clicks swapped in, localization with the
oracle labels, video top-1 and the test evaluation by hand, and one training of each kind."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bench.lab.sims import ensure_sim, load_sim_items
from bench.lab.training import (
    configs,
    evaluate_test,
    localize_all,
    run_one,
    video_top1,
    with_clicks,
)
from model.config import PostConfig
from model.data import VideoItem
from tests.bench.tiny import tiny_settings
from tests.model.tiny_thumos import CLASSES, write_inputs

HERE = Path(__file__)


def _item(name: str, labels: list[float], gt=None, T: int = 10) -> VideoItem:
    return VideoItem(
        name=name,
        features=np.zeros((T, 3), dtype=np.float32),
        labels=np.asarray(labels, dtype=np.float32),
        fps=10.0,
        duration=10.0,
        frame_num=100,
        bg_clicks=np.asarray([1, 2], dtype=np.int64),
        gt_segments=gt,
    )


def test_the_legacy_recipe_configs() -> None:
    settings = replace(tiny_settings(HERE, HERE), zero_losses=("click", "embedding"))
    model_config, config = configs("bg-click", 4, settings, [_item("a", [1, 0])], 2, "cpu")
    assert (model_config.feature_dim, model_config.num_classes, model_config.hidden) == (3, 2, 8)
    assert (model_config.embed_hidden, model_config.filter_norm) == (8, "topk")
    assert model_config.input_norm == "none"
    assert (config.lr, config.batch_size, config.epochs, config.seed) == (1e-3, 2, 2, 4)
    assert (config.lr_scaling, config.init_scaling, config.click_rampup_epochs) == (
        "none",
        "none",
        0,
    )
    assert config.holdout_fraction == 0.34 and config.click_loss == "published"
    assert config.loss_weights.click == 0 and config.loss_weights.embedding == 0
    assert config.loss_weights.separation == 1.0
    _, upper = configs("upper-bound", 4, settings, [_item("a", [1, 0])], 2, "cpu")
    assert upper.supervision == "bg-click" and upper.lr == 1e-3


def test_with_clicks_replaces_the_background_clicks_only() -> None:
    items = [_item("a", [1, 0]), _item("b", [0, 1])]
    swapped = with_clicks(items, {"a": [7]})
    assert swapped[0].bg_clicks.tolist() == [7] and swapped[1].bg_clicks.tolist() == []
    assert items[0].bg_clicks.tolist() == [1, 2]  # the originals are untouched
    assert with_clicks(items, None) == items


def test_localization_top1_and_evaluation_by_hand() -> None:
    """One class fires on snippets 2–5 of a 10 s video (1 s snippets): with the oracle labels
    the segment is kept whatever the predicted video score says."""
    items = [_item("a", [1, 0], gt=[(2.0, 6.0, 0)]), _item("b", [0, 1], gt=[(1.0, 3.0, 1)])]
    cas = np.zeros((2, 10))
    cas[0, 2:6] = 1.0
    cas_b = np.zeros((2, 10))
    cas_b[1, 1:3] = 1.0
    mags = np.ones(10)
    post = PostConfig(use_magnitudes=False)
    outputs = {
        "a": (cas, np.array([0.9, 0.1]), mags),  # right class on top
        "b": (cas_b, np.array([0.6, 0.1]), mags),  # wrong class on top, right one below 0.25
    }
    assert video_top1(outputs, items) == 0.5
    preds = localize_all(outputs, items, post)
    assert preds["b"] == [] or all(c == 0 for _, _, c, _ in preds["b"])
    start, end, label, _ = max(preds["a"], key=lambda s: s[3])
    # the CAS is resized to frames, so the edges blur by a fraction of a snippet
    assert (label, start, end) == (0, pytest.approx(2.0, abs=0.5), pytest.approx(6.0, abs=0.5))
    oracle = localize_all(outputs, items, post, oracle=True)
    assert any(c == 1 for _, _, c, _ in oracle["b"])
    scores = evaluate_test(oracle, items)
    assert set(scores) == {"mAP", "avg_0.1_0.7", "avg_0.3_0.7"}
    assert scores["mAP"]["0.5"] == pytest.approx(1.0)
    # a video that is not a test video is not scored
    assert evaluate_test({**oracle, "c": [(0.0, 1.0, 0, 1.0)]}, items) == scores


def test_one_training_of_each_kind(tmp_path: Path) -> None:
    gt, clicks = write_inputs(tmp_path, [("video_validation_0000001", 2.0)])
    settings = tiny_settings(gt, clicks, epochs=1)
    sim = ensure_sim(settings, gt, clicks, 0, tmp_path, lambda _: None)
    train, test, names = load_sim_items(sim, True)
    for mode in ("bg-click", "upper-bound"):
        logs: list[str] = []
        preds = tmp_path / "preds" / f"{mode}.json"
        run = run_one(mode, 0, settings, train, test, 2, "cpu", logs.append, preds, names)
        assert run["mode"] == mode and run["best_epoch"] == 1 and len(run["curve"]) == 1
        assert set(run["test"]["mAP"]) == {"0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7"}
        assert 0.0 <= run["test_video_top1"] <= 1.0 and "test_oracle_labels" in run
        assert len(logs) == 1 and f"seed 0 {mode}" in logs[0]
        assert preds.exists() and set(CLASSES) >= {
            r["label"] for rows in __import__("json").loads(preds.read_text())["results"].values()
            for r in rows
        }  # fmt: skip
    assert "video_supp" not in run["curve"][0] and "snippet_ce" in run["curve"][0]
