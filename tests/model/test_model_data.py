"""Readers (official npz, npy + JSON, COIN CSV), click encoding and collation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from model.data import (
    IGNORE,
    VideoItem,
    coin_rows_to_clicks,
    collate,
    encode_clicks,
    load_class_names,
    load_dataset,
    load_npy_index,
    load_npz_split,
    read_coin_csv,
    resample_features,
    snippet_index,
    write_npz_video,
)


def _item(name: str = "v", length: int = 10, dim: int = 4, classes: int = 3) -> VideoItem:
    feats = np.arange(length * dim, dtype=np.float32).reshape(length, dim)
    labels = np.zeros(classes, dtype=np.float32)
    labels[1] = 1.0
    return VideoItem(name, feats, labels, fps=30.0, duration=20.0, frame_num=600)


def test_snippet_index_official_rule() -> None:
    assert snippet_index(0.0, 20.0, 750) == 0
    assert snippet_index(10.0, 20.0, 750) == 375
    assert snippet_index(1.0, 3.0, 750) == 250  # floor(250.0)
    assert snippet_index(0.9999, 3.0, 750) == 249
    assert snippet_index(20.0, 20.0, 750) == 749  # clamped to T - 1
    assert snippet_index(25.0, 20.0, 750) == 749
    assert snippet_index(-1.0, 20.0, 750) == 0  # clamped (model/timebase.py)


def test_encode_clicks() -> None:
    items = [_item("a"), _item("b")]
    clicks = [
        ("a", 1.0, "background", None),  # 1 / 20 * 10 -> 0
        ("a", 1.5, "bg", None),  # duplicate snippet 0
        ("a", 19.9, "background", None),  # -> 9
        ("b", 5.0, "action", 2),  # -> 2
        ("zzz", 3.0, "background", None),  # unknown video: ignored
    ]
    a, b = encode_clicks(clicks, items)
    assert a.bg_clicks.tolist() == [0, 9] and a.action_clicks.shape == (0, 2)
    assert b.bg_clicks.tolist() == [] and b.action_clicks.tolist() == [[2, 2]]
    with pytest.raises(ValueError):
        encode_clicks([("a", 1.0, "action", None)], items)
    with pytest.raises(ValueError):
        encode_clicks([("a", 1.0, "wave", None)], items)


def test_read_coin_csv_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "clicks.txt"
    path.write_bytes(
        "\ufeffURLID,URL,TagID,Tag,Start,End,Time,State\n"
        "vid_1,vid_1.mp4,20,background_background,21.5,21.5,1,1\n"
        "vid_1,vid_1.mp4,20,background_background,64,64.5,1,1\n"
        "vid_2,vid_2.mp4,3,Jump,7,7,2,1\n"
        "vid_2,vid_2.mp4,20,background_background,9,9,1,0\n".encode()
    )
    rows = read_coin_csv(path)
    assert [r.video_name for r in rows] == ["vid_1", "vid_1", "vid_2"]
    assert rows[0] == ("vid_1", 21.5, 21.5, 20, "background_background")
    clicks = coin_rows_to_clicks(rows, ["Run", "Jump"])
    assert clicks == [
        ("vid_1", 21.5, "background", None),
        ("vid_1", 64.25, "background", None),
        ("vid_2", 7.0, "action", 1),
    ]


def test_npz_round_trip_with_optional_keys(tmp_path: Path) -> None:
    split = tmp_path / "val"
    split.mkdir()
    item = _item("video_validation_0000051", length=12, dim=6)
    item.bg_clicks = np.array([1, 7])
    item.action_clicks = np.array([[4, 1]])
    item.gt_segments = [(2.0, 5.5, 1)]
    write_npz_video(split / "b.npz", item)
    plain = _item("a_first", length=5, dim=6)
    write_npz_video(split / "a.npz", plain)
    with np.load(split / "b.npz") as raw:
        assert raw["feat_spa"].shape == (3, 12) and raw["feat_tem"].shape == (3, 12)
        point = raw["point_label"]
        assert point[1] == 3 and point[7] == 3 and point[4] == IGNORE  # C at bg clicks
        assert raw["action_point_label"][4] == 1

    loaded = load_npz_split(tmp_path, "val")
    assert [it.name for it in loaded] == ["a_first", "video_validation_0000051"]  # sorted files
    got = loaded[1]
    np.testing.assert_array_equal(got.features, item.features)
    assert got.bg_clicks.tolist() == [1, 7] and got.action_clicks.tolist() == [[4, 1]]
    assert got.gt_segments == [(2.0, 5.5, 1)]
    assert (got.fps, got.duration, got.frame_num) == (30.0, 20.0, 600)
    assert loaded[0].gt_segments is None and loaded[0].bg_clicks.size == 0

    assert load_class_names(tmp_path, "val", 3) == ["class_0", "class_1", "class_2"]
    (tmp_path / "classes.json").write_text(json.dumps(["x", "y", "z"]))
    items, names = load_dataset(tmp_path, "val")
    assert names == ["x", "y", "z"] and len(items) == 2


def test_official_npz_without_extras(tmp_path: Path) -> None:
    (tmp_path / "test").mkdir()
    np.savez(
        tmp_path / "test" / "x.npz",
        feat_spa=np.ones((2, 4), np.float32),
        feat_tem=np.zeros((2, 4), np.float32),
        cls_label=np.array([0, 1], np.float32),
        frame_num=np.array(100),
        fps=np.array(25.0),
        duration=np.array(4.0),
        vid_name=np.array("video_test_1"),
    )
    (item,) = load_npz_split(tmp_path, "test")
    assert item.name == "video_test_1" and item.features.shape == (4, 4)
    np.testing.assert_array_equal(item.features[0], [1, 1, 0, 0])
    assert item.bg_clicks.size == 0


def test_npy_index_variable_length_and_resampling(tmp_path: Path) -> None:
    (tmp_path / "f").mkdir()
    np.save(tmp_path / "f" / "a.npy", np.ones((30, 4), np.float32))
    np.save(tmp_path / "f" / "b.npy", np.arange(10, dtype=np.float32)[:, None].repeat(4, 1))
    index = {
        "classes": ["run", "jump"],
        "videos": [
            {
                "name": "a", "features": "f/a.npy", "subset": "val", "fps": 10, "duration": 3.0,
                "clicks": [{"t_s": 1.5, "kind": "background"},
                           {"t_s": 0.25, "kind": "action", "class_id": 1}],
                "segments": [[0.0, 1.0, 1]],
            },
            {"name": "b", "features": "f/b.npy", "subset": "test", "labels": [0], "duration": 1.0},
        ],
    }  # fmt: skip
    path = tmp_path / "index.json"
    path.write_text(json.dumps(index))
    (a,) = load_npy_index(path, subset="val")
    assert a.features.shape == (30, 4) and a.frame_num == 30
    assert a.labels.tolist() == [0.0, 1.0]  # from segments and action clicks
    assert a.bg_clicks.tolist() == [15] and a.action_clicks.tolist() == [[2, 1]]
    (b,) = load_npy_index(path, subset="test", resample_to=4)
    # 10 snippets (values 0..9) -> 4: new centres sit at old positions 0.75, 3.25, 5.75, 8.25
    np.testing.assert_allclose(b.features[:, 0], [0.75, 3.25, 5.75, 8.25])
    assert b.gt_segments is None and b.labels.tolist() == [1.0, 0.0]
    items, names = load_dataset(path, "val")
    assert names == ["run", "jump"] and [it.name for it in items] == ["a"]


def test_resample_identity_and_linear() -> None:
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.testing.assert_array_equal(resample_features(x, 3), x)
    np.testing.assert_allclose(resample_features(x, 2)[:, 0], [0.5, 3.5])  # centres .25, 1.75


def test_collate_pads_masks_and_filters_clicks_by_mode() -> None:
    short, long = _item("s", length=3), _item("l", length=5)
    short.bg_clicks = np.array([2])
    long.action_clicks = np.array([[0, 2]])
    both = collate([short, long], "both")
    assert both.features.shape == (2, 4, 5)
    assert both.mask.tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    assert float(both.features[0, :, 3:].abs().sum()) == 0.0
    torch.testing.assert_close(both.features[1, :, 0], torch.tensor([0.0, 1.0, 2.0, 3.0]))
    assert both.points.tolist() == [[IGNORE, IGNORE, 3, IGNORE, IGNORE], [2] + [IGNORE] * 4]
    assert collate([short, long], "bg-click").points[1, 0] == IGNORE
    assert collate([short, long], "action-click").points[0, 2] == IGNORE
    assert int((collate([short, long], "weak").points != IGNORE).sum()) == 0
