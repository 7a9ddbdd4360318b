"""model.refine by hand: pseudo-labels bounded by clicks, the interval loss, proposal
refinement, and a second stage that trains on toy videos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.config import PostConfig
from model.data import IGNORE
from model.recipes import train_config
from model.refine import (
    RefineConfig,
    fit_refiner,
    interval_iou_loss,
    pseudo_labels,
    refine_predict,
    refine_proposals,
)
from model.train import fit
from tests.model.backtal_toy import make_toy_videos, tiny_model_config

BG = 2  # C = 2 classes


def test_pseudo_labels_by_hand_and_clicks_cut_the_runs() -> None:
    cas = np.array(
        [
            [0.0, 0.1, 0.6, 0.9, 0.8, 0.7, 0.3, 0.1],  # class 0 (labelled)
            [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9],  # class 1 (not labelled: ignored)
        ]
    )
    labels = np.array([1.0, 0.0])
    plain = pseudo_labels(cas, labels, np.zeros(0, np.int64), np.zeros((0, 2), np.int64), 0.5, 0.2)
    assert plain.labels.tolist() == [BG, BG, 0, 0, 0, 0, IGNORE, BG]
    # one run, snippets 2..5: distances from each snippet centre to its start / end
    assert plain.distances[2:6].tolist() == [[0.5, 3.5], [1.5, 2.5], [2.5, 1.5], [3.5, 0.5]]
    assert plain.distances[[0, 1, 6, 7]].sum() == 0
    clicked = pseudo_labels(cas, labels, np.array([4]), np.zeros((0, 2), np.int64), 0.5, 0.2)
    assert clicked.labels.tolist() == [BG, BG, 0, 0, BG, 0, IGNORE, BG]
    # the click cut the run in two: no pseudo-segment covers snippet 4
    assert clicked.distances[2:4].tolist() == [[0.5, 1.5], [1.5, 0.5]]
    assert clicked.distances[5].tolist() == [0.5, 0.5]
    action = pseudo_labels(cas, labels, np.zeros(0, np.int64), np.array([[6, 0]]), 0.5, 0.2)
    assert action.labels.tolist() == [BG, BG, 0, 0, 0, 0, 0, BG]  # the click's snippet joins


def test_interval_iou_loss_by_hand() -> None:
    pred = torch.tensor([[1.0, 1.0], [2.0, 0.0], [1.0, 3.0]])
    target = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
    # same; [−2, 0] vs [−1, 1]: inter 1, union 3; [−1, 3] vs [−1, 1]: inter 2, union 4
    assert interval_iou_loss(pred, target).tolist() == pytest.approx([0.0, 2 / 3, 0.5])


def test_refine_proposals_by_hand() -> None:
    length, duration = 10, 20.0  # 2 s per snippet
    probs = np.zeros((3, length))
    probs[BG] = 1.0
    probs[0, 2:6], probs[BG, 2:6] = 0.8, 0.2
    # every snippet 2..5 regresses the interval [2, 6) (snippets): distances to 2 and to 6
    centres = np.arange(length) + 0.5
    dist = np.stack([centres - 2.0, 6.0 - centres])
    # a first-stage proposal of class 0 too long on the right: 4 s .. 16 s, score 0.3
    out = refine_proposals([(4.0, 16.0, 0, 0.3)], probs, dist, duration, PostConfig())
    # weights 0.8 on snippets 2..5 and 0 on 6, 7: start 2 -> 4 s, end 6 -> 12 s; score 0.3 + 0.8
    assert len(out) == 1
    start, end, c, score = out[0]
    assert (start, end, c) == pytest.approx((4.0, 12.0, 0)) and score == pytest.approx(1.1)
    # a proposal where the refiner sees no class 0 is dropped; duplicates are NMS'd
    none = refine_proposals([(16.0, 20.0, 0, 0.5)], probs, dist, duration, PostConfig())
    assert none == []
    two = refine_proposals(
        [(4.0, 16.0, 0, 0.3), (4.0, 12.0, 0, 0.2)], probs, dist, duration, PostConfig()
    )
    assert len(two) == 1 and two[0][3] == pytest.approx(1.1)
    # the ablations: its own edges with the new score; the new edges with its own score
    (kept,) = refine_proposals([(4.0, 16.0, 0, 0.3)], probs, dist, duration, PostConfig(),
                               boundaries=False)  # fmt: skip
    # snippets 2..7 inside: class-0 probability 0.8, 0.8, 0.8, 0.8, 0, 0 -> mean 0.5333
    assert kept[:3] == pytest.approx((4.0, 16.0, 0)) and kept[3] == pytest.approx(0.3 + 3.2 / 6)
    (moved,) = refine_proposals([(4.0, 16.0, 0, 0.3)], probs, dist, duration, PostConfig(),
                                scores=False)  # fmt: skip
    assert moved == pytest.approx((4.0, 12.0, 0, 0.3))


def test_second_stage_trains_and_keeps_the_planted_actions() -> None:
    items = make_toy_videos(12, seed=0)
    config = train_config(
        "published", supervision="bg-click", epochs=30, batch_size=4, lr=1e-3, holdout_fraction=0
    )
    first = fit(config, tiny_model_config(dropout=0.5), items[:10]).model
    refiner, info = fit_refiner(
        first, items[:10], RefineConfig(hidden=16, epochs=15, batch_size=4), val_items=items[10:]
    )
    assert 0 < info["pseudo_fg_share"] < 1 and 1 <= info["best_epoch"] <= 15
    losses = [h["loss"] for h in info["history"]]
    assert losses[-1] < losses[0]
    fresh = make_toy_videos(4, seed=1)
    preds = refine_predict(first, refiner, fresh, config.post)
    for it in fresh:
        assert it.gt_segments is not None
        start, end, cls = it.gt_segments[0]
        own = [s for s in preds[it.name] if s[2] == cls]
        assert own, it.name
        best = max(own, key=lambda s: s[3])
        inter = max(0.0, min(end, best[1]) - max(start, best[0]))
        assert inter / (max(end, best[1]) - min(start, best[0])) > 0.3


def test_fit_with_second_stage_predicts_with_it_and_checkpoints_it(tmp_path) -> None:
    """TrainConfig.second_stage: fit trains the refiner after the first stage (the same
    fit_refiner the benchmark calls), predict re-draws the segments with it, and a checkpoint
    keeps it: a loaded checkpoint predicts exactly the same segments."""
    from dataclasses import replace

    from model.train import load_checkpoint, predict, save_checkpoint

    items = make_toy_videos(12, seed=0)
    config = train_config(
        "published", supervision="bg-click", epochs=8, batch_size=4, lr=1e-3,
        holdout_fraction=0.2, second_stage=True,
    )  # fmt: skip
    mconf = tiny_model_config(dropout=0.5)
    result = fit(config, mconf, items)
    assert result.refiner is not None and result.refine_info["best_epoch"] >= 1
    # the same stage 1 without the second stage: identical weights, no refiner
    plain = fit(replace(config, second_stage=False), mconf, items)
    assert plain.refiner is None
    for key, value in plain.model.state_dict().items():
        assert torch.equal(value, result.model.state_dict()[key])
    fresh = make_toy_videos(3, seed=1)
    one = predict(result.model, fresh, config.post)
    two = predict(result.model, fresh, config.post, refiner=result.refiner)
    assert any(one[n].segments != two[n].segments for n in one)  # the edges were re-drawn
    path = tmp_path / "m.pt"
    save_checkpoint(path, result.model, mconf, config, ["a", "b"], refiner=result.refiner)
    model, _, _, meta = load_checkpoint(path)
    assert meta["refiner"] is not None and meta["refiner"].refine_config.seed == config.seed
    again = predict(model, fresh, config.post, refiner=meta["refiner"])
    assert {n: r.segments for n, r in again.items()} == {n: r.segments for n, r in two.items()}
    plain_path = tmp_path / "p.pt"
    save_checkpoint(plain_path, plain.model, mconf, config, ["a", "b"])
    assert load_checkpoint(plain_path)[3]["refiner"] is None
