"""fit(): determinism, held-out epoch selection, progress, cancel; predict(); checkpoints."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from model.config import ModelConfig, TrainConfig
from model.recipes import train_config
from model.train import (
    TrainingCancelled,
    fit,
    holdout_metrics,
    load_checkpoint,
    predict,
    resolve_device,
    save_checkpoint,
    selection_criterion,
    selection_key,
    split_holdout,
    video_ranking,
)
from tests.model.backtal_toy import make_toy_videos, tiny_model_config

# the published recipe (one lr for every weight, no ramp): these tests are about fit() itself
FAST = train_config(
    "published", supervision="bg-click", epochs=4, batch_size=4, lr=1e-3, holdout_fraction=0
)


def test_same_seed_same_weights_other_seed_differs() -> None:
    items = make_toy_videos(6)
    a = fit(FAST, tiny_model_config(), items).model.state_dict()
    b = fit(FAST, tiny_model_config(), items).model.state_dict()
    c = fit(replace(FAST, seed=1), tiny_model_config(), items).model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_holdout_split_is_seeded_and_disjoint() -> None:
    items = make_toy_videos(10)
    train, held = split_holdout(items, 0.2, seed=3)
    assert len(held) == 2 and len(train) == 8
    assert not {i.name for i in train} & {i.name for i in held}
    assert [i.name for i in split_holdout(items, 0.2, seed=3)[1]] == [i.name for i in held]
    assert split_holdout(items, 0.0, seed=3) == (items, [])
    assert len(split_holdout(items[:2], 0.01, seed=0)[1]) == 1


def test_best_epoch_is_chosen_on_held_out_training_videos_and_restored() -> None:
    items = make_toy_videos(8)
    seen: list[dict] = []
    config = replace(FAST, epochs=6, holdout_fraction=0.25)
    result = fit(config, tiny_model_config(), items, on_progress=seen.append)
    assert len(result.holdout) == 2
    assert [p["epoch"] for p in seen] == [1, 2, 3, 4, 5, 6]
    assert {"epoch", "epochs", "step", "losses", "val"} <= set(seen[0])
    assert seen[-1]["step"] == 6 * 2  # 6 training videos in batches of 4
    val = result.history[0]["val"]
    assert {"loss", "video_acc", "click_acc", "mAP_0.1_0.7"} <= set(val)
    keys = [selection_key(h["val"]) for h in result.history]
    assert result.best_epoch == 1 + keys.index(max(keys))
    held = [it for it in items if it.name in result.holdout]
    again = holdout_metrics(result.model, held, config, torch.device("cpu"))
    assert again == pytest.approx(result.best_metrics)  # the best epoch's weights came back


def test_selection_without_gt_segments_uses_video_label_ranking() -> None:
    items = [replace(it, gt_segments=None) for it in make_toy_videos(6)]
    held = items[:2]
    result = fit(FAST, tiny_model_config(), items[2:], val_items=held)
    assert result.holdout == [it.name for it in held]
    val = result.history[0]["val"]
    assert "mAP_0.1_0.7" not in val and {"video_top1", "video_map"} <= set(val)
    assert "ranking mAP" in result.selection
    keys = [selection_key(h["val"]) for h in result.history]
    assert keys[0] == (val["video_map"], -val["loss"])
    assert result.best_epoch == 1 + keys.index(max(keys))
    metrics = {"loss": 2.0, "video_acc": 0.5, "click_acc": 1.0, "video_map": 0.3}
    assert selection_key(metrics) == (0.3, -2.0)
    assert selection_key({"loss": 2.0, "video_acc": 0.0}) == (0.0, -2.0)  # loss decides
    assert "held-out loss" in selection_criterion({"loss": 2.0, "video_acc": 0.0})


def test_selection_uses_map_on_the_held_out_videos_that_have_gt() -> None:
    items = make_toy_videos(6)
    held = [items[0], replace(items[1], gt_segments=None)]  # one with GT segments, one without
    result = fit(FAST, tiny_model_config(), items[2:], val_items=held)
    val = result.history[0]["val"]
    assert val["mAP_videos"] == 1.0 and "mAP_0.1_0.7" in val
    assert selection_key(val) == (val["mAP_0.1_0.7"], -val["loss"])
    assert result.selection.startswith("held-out mAP@0.1:0.7 on 1 videos")
    assert fit(FAST, tiny_model_config(), items).selection == "no held-out videos: the last epoch"


def test_video_ranking_by_hand() -> None:
    scores = np.array(
        [
            [0.5, 0.3, 0.2],  # label 1 ranks 2nd: AP 1/2, top-1 miss
            [0.5, 0.3, 0.2],  # labels 0, 1 rank 1st, 2nd: precisions 1, 1 -> AP 1
            [0.2, 0.3, 0.5],  # labels 0, 2: ranks 3 and 1: precisions 2/3, 1 -> AP 5/6
            [1 / 3, 1 / 3, 1 / 3],  # uniform: ties count against: AP 1/3, top-1 miss
            [0.6, 0.2, 0.2],  # no label: AP NaN
        ]
    )
    labels = np.array([[0, 1, 0], [1, 1, 0], [1, 0, 1], [0, 1, 0], [0, 0, 0]])
    top1, ap = video_ranking(scores, labels)
    assert top1.tolist() == [False, True, True, False, False]
    np.testing.assert_allclose(ap[:4], [0.5, 1.0, 5 / 6, 1 / 3])
    assert np.isnan(ap[4])


def test_selection_moves_where_the_old_criterion_was_constant() -> None:
    """The outside check: 20 classes, suppressed video scores all below the 0.25 class
    threshold every epoch, background clicks always on the background class. The old key
    (mean of thresholded video accuracy and click consistency, then loss) is the same for
    every epoch and so picks the lowest loss; ranking the labelled class first is what the
    new key rewards."""
    labels = np.zeros((4, 20))
    labels[np.arange(4), [3, 7, 7, 12]] = 1
    # every class at 0.04, one rival class at 0.05; the labelled class of each video at:
    # epoch 0: 0.04 (tied with 18 others, under the rival: rank 20, AP 1/20)
    # epoch 1: 0.045 (rank 2, AP 1/2); epoch 2: 0.06 (rank 1, AP 1); epoch 3: half and half
    lifts = [[0.04] * 4, [0.045] * 4, [0.06] * 4, [0.045, 0.06, 0.045, 0.06]]
    epochs = []
    for epoch, lift in enumerate(lifts):
        probs = np.full((4, 20), 0.04)
        probs[:, 0] = 0.05
        probs[labels > 0] = lift
        old_acc = float(((probs >= 0.25) == (labels > 0)).all(1).mean())
        top1, ap = video_ranking(probs, labels)
        epochs.append(
            {
                "loss": 1.0 - 0.01 * epoch,  # the last epoch has the lowest loss
                "video_acc": old_acc,
                "click_acc": 1.0,
                "video_top1": float(top1.mean()),
                "video_map": float(ap.mean()),
            }
        )
    assert {e["video_acc"] for e in epochs} == {0.0}
    old_keys = [(np.mean([e["video_acc"], e["click_acc"]]), -e["loss"]) for e in epochs]
    assert old_keys.index(max(old_keys)) == 3  # the old choice: the loss alone
    assert [e["video_map"] for e in epochs] == pytest.approx([1 / 20, 1 / 2, 1, 3 / 4])
    assert [e["video_top1"] for e in epochs] == [0.0, 0.0, 1.0, 0.5]
    new_keys = [selection_key(e) for e in epochs]
    assert new_keys.index(max(new_keys)) == 2


def test_should_stop_cancels_promptly() -> None:
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) >= 3

    with pytest.raises(TrainingCancelled):
        fit(replace(FAST, epochs=50), tiny_model_config(), make_toy_videos(8), should_stop=stop)
    assert len(calls) == 3


def test_predict_outputs(tmp_path: Path) -> None:
    items = make_toy_videos(4, length=(30, 50))  # variable lengths
    model = fit(FAST, tiny_model_config(), items).model
    preds = predict(model, items, FAST.post, ["a", "b"])
    for item in items:
        res = preds[item.name]
        assert res.cas.shape == (2, item.num_snippets) and res.video_scores.shape == (2,)
        assert np.all(res.video_scores >= 0) and res.video_scores.sum() <= 1.0 + 1e-6
        for start, end, cls, score in res.segments:
            assert 0 <= start < end <= item.duration + 1e-9 and cls in (0, 1)
            assert isinstance(score, float)


def test_checkpoint_round_trip_weights_only(tmp_path: Path) -> None:
    items = make_toy_videos(4)
    mcfg = tiny_model_config(affinity="official")
    model = fit(FAST, mcfg, items).model
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, mcfg, FAST, ["run", "jump"], {"val": {"acc": np.float32(0.5)}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]  # no temp file left
    raw = torch.load(path, weights_only=True)
    assert raw["class_names"] == ["run", "jump"] and raw["metrics"]["val"]["acc"] == 0.5
    loaded, cfg, names, meta = load_checkpoint(path)
    assert cfg == mcfg and names == ["run", "jump"]
    assert TrainConfig.from_dict(meta["train_config"]) == FAST
    x = torch.randn(1, 16, 20)
    torch.testing.assert_close(loaded(x).cas_supp, model.eval()(x).cas_supp)
    torch.save({"format": "other"}, tmp_path / "bad.pt")
    with pytest.raises(ValueError):
        load_checkpoint(tmp_path / "bad.pt")


def test_configs_round_trip_and_validate() -> None:
    cfg = ModelConfig(feature_dim=2048, num_classes=20)
    assert (cfg.hidden, cfg.embed_dim, cfg.dropout, cfg.affinity) == (2048, 32, 0.7, "paper")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    t = TrainConfig()
    assert (t.lr, t.weight_decay, t.batch_size, t.epochs) == (1e-4, 5e-4, 16, 40)
    assert t.loss_weights.fg_norm == 1e-4 and t.loss_weights.embedding == 0.8
    assert len(t.post.cas_thresholds) == 10 and len(t.post.magnitude_thresholds) == 7
    assert t.post.nms_plus_one is False and TrainConfig.from_dict(t.to_dict()) == t
    with pytest.raises(ValueError):
        TrainConfig(supervision="clicks")
    with pytest.raises(ValueError):
        ModelConfig(feature_dim=4, num_classes=2, affinity="fast")
    with pytest.raises(ValueError):
        ModelConfig.from_dict({**cfg.to_dict(), "depth": 3})
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_bf16_precision_trains_with_float32_outputs() -> None:
    items = make_toy_videos(4)
    config = replace(FAST, precision="bf16", epochs=30)
    result = fit(config, tiny_model_config(), items)
    first, last = result.history[0]["losses"]["total"], result.history[-1]["losses"]["total"]
    assert np.isfinite(last) and last < first
    preds = predict(result.model, items[:1], config.post)
    assert next(iter(preds.values())).cas.dtype == np.float32


def test_topk_filter_norm_fixes_the_scale_of_the_foreground_weights() -> None:
    """filter_norm="topk": the top-k foreground weights of each video average 1, so a uniform
    shrink of a_t (which, the network being bias-free, only cools the suppressed branch's
    softmax towards chance) is no longer available to the optimiser."""
    from model.network import BackTAL, topk_counts, topk_mean

    torch.manual_seed(0)
    config = ModelConfig(
        feature_dim=6, num_classes=3, hidden=8, embed_hidden=4, filter_hidden=4, filter_norm="topk"
    )
    model = BackTAL(config).eval()
    x = torch.rand(2, 6, 40)
    mask = torch.ones(2, 40, dtype=torch.bool)
    mask[1, 30:] = False
    out = model(x, mask)
    k = topk_counts(mask, config.topk_ratio)
    assert torch.allclose(topk_mean(out.fg_weight[:, None], mask, k)[:, 0], torch.ones(2))
    assert (out.fg_weight[1, 30:] == 0).all()
    with torch.no_grad():
        bias = model.filter_conv2.bias
        assert bias is not None
        bias.sub_(10.0)  # sigmoid deep in saturation: raw a_t ~ 1e-5
    shrunk = model(x, mask)
    assert torch.allclose(topk_mean(shrunk.fg_weight[:, None], mask, k)[:, 0], torch.ones(2))
    assert shrunk.score_supp.abs().max() > 0.1 * out.score_supp.abs().max()
    with pytest.raises(ValueError, match="filter_norm"):
        ModelConfig(feature_dim=6, num_classes=3, filter_norm="max")


def test_lr_scaling_width_multiplies_each_weight_by_published_over_own_fan_in() -> None:
    from model.train import lr_multipliers, make_optimizer

    published = ModelConfig(feature_dim=2048, num_classes=20)
    assert set(lr_multipliers(published).values()) == {1.0}  # the published recipe itself
    narrow = ModelConfig(
        feature_dim=256, num_classes=20, hidden=128, embed_hidden=128, filter_hidden=128
    )
    mult = lr_multipliers(narrow)
    # by hand: 2048/256 = 8 on D-input layers, 2048/128 = 16 after the base module, 512/128 = 4
    assert mult["conv1.weight"] == 8 and mult["embed_conv1.weight"] == 8
    assert mult["conv2.weight"] == 16 and mult["classifier.weight"] == 16
    assert mult["filter_conv2.weight"] == 4 and mult["embed_conv2.weight"] == 4
    from model.network import BackTAL

    model = BackTAL(narrow)
    opt = make_optimizer(model, replace(FAST, lr=1e-4, lr_scaling="width"))
    lrs = {id(g["params"][0]): g["lr"] for g in opt.param_groups}
    named = dict(model.named_parameters())
    assert lrs[id(named["classifier.weight"])] == pytest.approx(1.6e-3)
    assert lrs[id(named["filter_conv1.bias"])] == pytest.approx(1e-4)  # biases keep the base lr
    plain = make_optimizer(model, replace(FAST, lr=1e-4))
    assert [g["lr"] for g in plain.param_groups] == [1e-4]
    with pytest.raises(ValueError, match="lr_scaling"):
        TrainConfig(lr_scaling="fast")


def test_init_scaling_width_scales_the_classifier_by_sqrt_published_over_own_width() -> None:
    from model.network import BackTAL
    from model.train import init_multipliers, scale_initial_weights

    published = ModelConfig(feature_dim=2048, num_classes=20)
    assert init_multipliers(published) == {"classifier.weight": 1.0}  # the published init
    narrow = ModelConfig(
        feature_dim=256, num_classes=20, hidden=128, embed_hidden=128, filter_hidden=128
    )
    assert init_multipliers(narrow) == {"classifier.weight": 4.0}  # by hand: sqrt(2048/128)
    torch.manual_seed(0)
    plain = BackTAL(narrow)
    torch.manual_seed(0)
    scaled = BackTAL(narrow)
    scale_initial_weights(scaled, replace(FAST, init_scaling="width"))
    a, b = plain.state_dict(), scaled.state_dict()
    torch.testing.assert_close(b["classifier.weight"], 4 * a["classifier.weight"])
    for key in a:
        if key != "classifier.weight":
            assert torch.equal(a[key], b[key])  # every other weight keeps the default
    scale_initial_weights(plain, FAST)  # "none": untouched
    for key in a:
        assert torch.equal(plain.state_dict()[key], a[key])
    with pytest.raises(ValueError, match="init_scaling"):
        TrainConfig(init_scaling="fast")


def test_click_rampup_weight_per_epoch_by_hand() -> None:
    from model.train import click_weight_factor, epoch_config

    assert [click_weight_factor(e, 2) for e in (1, 2, 3, 4, 40)] == [0.0, 0.5, 1.0, 1.0, 1.0]
    assert [click_weight_factor(e, 4) for e in (1, 2, 3, 4, 5, 6)] == [0, 0.25, 0.5, 0.75, 1, 1]
    assert [click_weight_factor(e, 0) for e in (1, 2)] == [1.0, 1.0]  # published
    ramped = replace(FAST, click_rampup_epochs=2)
    assert epoch_config(ramped, 1).loss_weights.click == 0.0
    assert epoch_config(ramped, 2).loss_weights.click == 0.5
    assert epoch_config(ramped, 2).loss_weights.separation == 1.0  # only the click CE
    assert epoch_config(ramped, 3) is ramped
    assert epoch_config(FAST, 1) is FAST
    with pytest.raises(ValueError, match="click_rampup_epochs"):
        TrainConfig(click_rampup_epochs=-1)


def test_click_rampup_trains_epoch_one_without_the_click_term() -> None:
    items = make_toy_videos(6)
    config = replace(FAST, epochs=2, click_rampup_epochs=1)
    history = fit(config, tiny_model_config(), items).history
    first, second = history[0]["losses"], history[1]["losses"]
    assert first["click"] > 0  # still reported ...
    for losses, click_weight in ((first, 0.0), (second, 1.0)):  # ... weighted 0, then 1
        rest = (
            losses["video_base"]
            + losses["video_supp"]
            + 1e-4 * losses["fg_norm"]
            + losses["separation"]
            + 0.8 * losses["embedding"]
        )
        assert losses["total"] == pytest.approx(rest + click_weight * losses["click"], rel=1e-5)


def test_new_options_off_are_the_published_run_bit_for_bit() -> None:
    items = make_toy_videos(6)
    a = fit(FAST, tiny_model_config(), items).model.state_dict()
    b = fit(
        replace(FAST, init_scaling="none", click_rampup_epochs=0), tiny_model_config(), items
    ).model.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key])
    for changed in (replace(FAST, init_scaling="width"), replace(FAST, click_rampup_epochs=2)):
        c = fit(changed, tiny_model_config(), items).model.state_dict()
        assert any(not torch.equal(a[k], c[k]) for k in a)


def test_input_norm_standardizes_raw_features_inside_the_network(tmp_path: Path) -> None:
    items = make_toy_videos(6)
    shifted = [replace(it, features=it.features * 3.0 + 5.0) for it in items]  # raw, off-centre
    mcfg = tiny_model_config(input_norm="standardize")
    model = fit(replace(FAST, epochs=1), mcfg, shifted).model
    stacked = np.concatenate([it.features for it in shifted])
    np.testing.assert_allclose(model.get_buffer("input_mean").numpy(), stacked.mean(0), rtol=1e-5)
    np.testing.assert_allclose(model.get_buffer("input_std").numpy(), stacked.std(0), rtol=1e-4)
    # the same weights without the layer, fed the z-scored features, give the same outputs
    plain = type(model)(replace(mcfg, input_norm="none")).eval()
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("input_")}
    plain.load_state_dict(state)
    raw = torch.from_numpy(np.ascontiguousarray(shifted[0].features.T))[None]
    z = (raw - torch.from_numpy(stacked.mean(0))[None, :, None]) / torch.from_numpy(stacked.std(0))[
        None, :, None
    ]
    torch.testing.assert_close(
        model.eval()(raw).cas_supp, plain(z.float()).cas_supp, rtol=1e-4, atol=1e-4
    )
    # the statistics travel with the checkpoint
    save_checkpoint(tmp_path / "m.pt", model, mcfg, FAST, ["run", "jump"])
    loaded, *_ = load_checkpoint(tmp_path / "m.pt")
    torch.testing.assert_close(loaded.get_buffer("input_std"), model.get_buffer("input_std"))
    with pytest.raises(ValueError, match="input_norm"):
        tiny_model_config(input_norm="batch")


def test_stop_early_by_hand() -> None:
    from model.train import replay_early_stopping, stop_early

    keys = [(0.1, 0), (0.3, 0), (0.2, 0), (0.25, 0), (0.5, 0), (0.4, 0)]
    assert replay_early_stopping(keys, 2, 0) == (2, 4)  # best 2, two epochs without gain
    assert replay_early_stopping(keys, 2, 5) == (5, 6)  # min 5 epochs: epoch 5 wins, 6 ends
    assert replay_early_stopping(keys, 0, 0) == (5, 6)

    # best epoch 3, patience 2: epoch 4 goes on, epoch 5 stops
    assert [stop_early(3, e, 2, 0) for e in (3, 4, 5, 6)] == [False, False, True, True]
    assert stop_early(3, 5, 2, 6) is False  # not before min_epochs
    assert stop_early(3, 6, 2, 6) is True
    assert stop_early(1, 40, 0, 0) is False  # patience 0: the published behaviour


def test_early_stopping_ends_training_and_returns_the_best_epoch() -> None:
    items = make_toy_videos(8)
    config = replace(FAST, epochs=30, holdout_fraction=0.25, patience=2)
    seen: list[dict] = []
    result = fit(config, tiny_model_config(), items, on_progress=seen.append)
    ran = len(result.history)
    keys = [selection_key(h["val"]) for h in result.history]
    assert result.best_epoch == 1 + keys.index(max(keys))
    assert ran < 30 and result.stopped_early and seen[-1]["stopping"]
    assert ran - result.best_epoch == 2  # stopped exactly `patience` epochs after the best
    full = fit(replace(config, patience=0), tiny_model_config(), items)
    assert len(full.history) == 30 and not full.stopped_early
    # replaying the full run's held-out keys through the rule gives what fit did
    from model.train import replay_early_stopping

    full_keys = [selection_key(h["val"]) for h in full.history]
    assert replay_early_stopping(full_keys, 2, 0) == (result.best_epoch, ran)
    assert replay_early_stopping(full_keys, 0, 0) == (full.best_epoch, 30)
    # the same seed: the epochs both ran are identical
    assert full.history[:ran] == [
        {k: v for k, v in h.items() if k != "stopped"} for h in result.history
    ]


def test_on_epoch_model_sees_each_epoch_and_changes_nothing() -> None:
    items = make_toy_videos(6)
    seen: list[int] = []

    def look(epoch: int, model) -> None:  # type: ignore[no-untyped-def]
        seen.append(epoch)
        predict(model, items[:2], FAST.post)  # what a benchmark's curve does

    a = fit(FAST, tiny_model_config(), items, on_epoch_model=look).model.state_dict()
    b = fit(FAST, tiny_model_config(), items).model.state_dict()
    assert seen == [1, 2, 3, 4]
    for key in a:
        assert torch.equal(a[key], b[key]), key
