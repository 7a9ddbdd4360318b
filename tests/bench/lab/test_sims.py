"""bench.lab.sims: the sim cache (reused only while everything that made it matches; another
click file is a drop-in), the legacy z-scoring, loading a generated sim."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.lab.sims import ensure_sim, load_sim_items, metadata_items, standardize
from model.data import VideoItem
from tests.bench.tiny import tiny_settings
from tests.model.tiny_thumos import BG, HEADER, write_inputs

CLICKS_A = [("video_validation_0000001", 2.0), ("video_validation_0000002", 30.0)]
CLICKS_B = [("video_validation_0000003", 35.0)]  # "a second annotator"


def test_a_sim_is_reused_only_while_everything_matches(tmp_path: Path) -> None:
    gt, clicks = write_inputs(tmp_path, CLICKS_A)
    default = tiny_settings(gt, clicks)
    first = replace(default, sim_overrides=(("app_class_norm", 3.0),))
    logs: list[str] = []
    out = ensure_sim(first, gt, clicks, 0, tmp_path, logs.append)
    assert out == tmp_path / "sim-seed0" and logs[0].startswith("generating")
    cfg = json.loads((out / "sim_config.json").read_text())
    assert cfg["params"]["app_class_norm"] == 3.0
    ensure_sim(first, gt, clicks, 0, tmp_path, logs.append)
    assert logs[-1] == f"reusing {out}"
    for changed in (default, replace(first, limit=2), replace(first, clicks_sha="x" * 64)):
        ensure_sim(changed, gt, clicks, 0, tmp_path, logs.append)  # changed -> regenerated
        assert logs[-2].startswith("generating") and logs[-1].startswith("  ")
    ensure_sim(first, gt, clicks, 1, tmp_path, logs.append)  # another seed: its own folder
    assert (tmp_path / "sim-seed1" / "sim_config.json").exists()


def test_another_click_file_is_a_drop_in(tmp_path: Path) -> None:
    gt, clicks_a = write_inputs(tmp_path, CLICKS_A)
    clicks_b = tmp_path / "annotator_b.csv"
    clicks_b.write_text(
        "\n".join([HEADER, *(f"{v},{v}.mp4,{BG},{t},{t},1,1" for v, t in CLICKS_B)]) + "\n"
    )
    sims = {}
    for name, clicks in (("a", clicks_a), ("b", clicks_b)):
        settings = tiny_settings(gt, clicks, modes=("bg-click",))
        sims[name] = ensure_sim(settings, gt, clicks, 0, tmp_path / name, lambda _: None)
    for vid in ("video_validation_0000001", "video_validation_0000003"):
        a = np.load(sims["a"] / "val" / f"{vid}.npz")["point_label"]
        b = np.load(sims["b"] / "val" / f"{vid}.npz")["point_label"]
        assert (a == 2).any() != (b == 2).any()  # each file's clicks, nobody else's


def _item(features: list[list[float]]) -> VideoItem:
    f = np.asarray(features, dtype=np.float32)
    return VideoItem("v", f, np.zeros(1, np.float32), 30.0, float(len(f)), 30 * len(f))


def test_standardize_uses_the_training_statistics_only() -> None:
    train = [_item([[1.0, 10.0], [3.0, 10.0]]), _item([[5.0, 10.0]])]
    test = [_item([[3.0, 11.0]])]
    z_train, z_test = standardize(train, test)
    # dimension 0: mean 3, std sqrt(8/3); dimension 1: mean 10, std 0 (+1e-6)
    sd = np.sqrt(8 / 3)
    assert np.allclose(z_train[0].features[:, 0], [-2 / sd, 0.0], atol=1e-5)
    assert np.allclose(z_train[1].features[:, 0], [2 / sd], atol=1e-5)
    assert np.allclose(z_test[0].features[0], [0.0, 1e6], rtol=1e-3)
    assert train[0].features[0, 0] == 1.0  # the inputs are not modified


def test_loading_a_sim_and_its_metadata(tmp_path: Path) -> None:
    gt, clicks = write_inputs(tmp_path, CLICKS_A)
    sim_dir = ensure_sim(tiny_settings(gt, clicks), gt, clicks, 0, tmp_path, lambda _: None)
    train, test, names = load_sim_items(sim_dir, False)
    assert len(train) == 3 and len(test) == 2 and names == ["Jump", "Throw"]
    assert train[0].features.shape == (40, 16)
    assert load_sim_items(sim_dir, False)[0] is train  # kept in memory
    z_train, _, _ = load_sim_items(sim_dir, True)
    assert np.allclose(np.concatenate([it.features for it in z_train]).mean(0), 0, atol=1e-4)
    meta = metadata_items(sim_dir)
    assert [m.name for m in meta] == [it.name for it in train]
    assert meta[0].features.shape == (40, 0) and meta[0].gt_segments == train[0].gt_segments
