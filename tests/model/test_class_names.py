"""Class names: the GT's class list (activity_list / idx / sorted), class files, and
``predict --gt/--classes`` naming segments of official-layout npz data (no classes.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from model.cli import main
from model.config import ModelConfig
from model.data import write_npz_video
from model.evaluate import gt_class_names, label_coverage, load_class_list
from model.network import BackTAL
from model.train import save_checkpoint
from tests.model.backtal_toy import make_toy_videos

REAL_GT = Path(__file__).resolve().parents[3] / "shared" / "thumos14" / "gt_thumos14.json"


def _gt(tmp_path: Path, payload: dict) -> Path:
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(payload))
    return path


def _db(*annotations: dict) -> dict:
    return {"v": {"subset": "test", "annotations": list(annotations)}}


def test_gt_class_names_sources(tmp_path: Path) -> None:
    ann_b = {"segment": [0, 1], "label": "Bowl", "idx": 1}
    ann_a = {"segment": [2, 3], "label": "Aim", "idx": 0}
    # activity_list wins and is returned as is (it may list classes without instances)
    path = _gt(tmp_path, {"database": _db(ann_b), "activity_list": ["Aim", "Bowl", "Cut"]})
    assert gt_class_names(path) == ["Aim", "Bowl", "Cut"]
    # no activity_list: the idx fields give the order
    path = _gt(tmp_path, {"database": _db(ann_b, ann_a)})
    assert gt_class_names(path) == ["Aim", "Bowl"]
    # neither: sorted names
    path = _gt(tmp_path, {"database": _db({"segment": [0, 1], "label": "Zip"}, ann_b)})
    assert gt_class_names(path) == ["Bowl", "Zip"]


def test_gt_class_names_inconsistent_files_fail_clearly(tmp_path: Path) -> None:
    ann_b = {"segment": [0, 1], "label": "Bowl", "idx": 0}
    path = _gt(tmp_path, {"database": _db(ann_b), "activity_list": ["Aim", "Bowl"]})
    with pytest.raises(ValueError, match="idx 0 is 'Bowl'"):
        gt_class_names(path)
    path = _gt(tmp_path, {"database": _db(ann_b), "activity_list": ["Aim"]})
    with pytest.raises(ValueError, match=r"\['Bowl'\] are not in its activity_list"):
        gt_class_names(path)
    twice = {"segment": [0, 1], "label": "Cut", "idx": 0}
    with pytest.raises(ValueError, match="index 0 is used for both"):
        gt_class_names(_gt(tmp_path, {"database": _db(ann_b, twice)}))
    with pytest.raises(ValueError, match="no 'database' key"):
        gt_class_names(_gt(tmp_path, {"results": {}}))


@pytest.mark.skipif(not REAL_GT.is_file(), reason="shared THUMOS14 GT not present")
def test_thumos14_class_order_is_alphabetical_and_matches_idx() -> None:
    names = gt_class_names(REAL_GT)
    assert len(names) == 20 and names == sorted(names)
    assert names[0] == "BaseballPitch" and names[11] == "HighJump"


def test_load_class_list_formats(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(json.dumps(["Jump", "Throw"]))
    assert load_class_list(tmp_path / "c.json") == ["Jump", "Throw"]
    (tmp_path / "c.txt").write_text("# THUMOS\nJump\n\n  Throw \n")
    assert load_class_list(tmp_path / "c.txt") == ["Jump", "Throw"]
    gt = _gt(tmp_path, {"database": _db(), "activity_list": ["A", "B"]})
    assert load_class_list(gt) == ["A", "B"]
    (tmp_path / "bad.json").write_text(json.dumps({"A": 0}))
    with pytest.raises(ValueError, match="JSON list of class names"):
        load_class_list(tmp_path / "bad.json")
    (tmp_path / "dup.txt").write_text("A\nA\n")
    with pytest.raises(ValueError, match="repeat"):
        load_class_list(tmp_path / "dup.txt")


def test_label_coverage() -> None:
    gt = {"v": [(0.0, 1.0, "A")], "w": [(0.0, 1.0, "B")]}
    preds = {
        "v": [(0.0, 1.0, "A", 0.5), (0.0, 1.0, "class_0", 0.4)],
        "x": [(0.0, 1.0, "class_0", 1.0)],
    }
    assert label_coverage(gt, preds) == (1, {"class_0": 2})
    assert label_coverage(gt, {}) == (0, {})


# ----------------------------------------------------------------------------- predict


def _official_layout(tmp_path: Path) -> tuple[Path, Path]:
    """npz test split without classes.json + a checkpoint whose names are placeholders."""
    data = tmp_path / "data"
    (data / "test").mkdir(parents=True)
    items = make_toy_videos(3, seed=1)
    for item in items:
        write_npz_video(data / "test" / f"{item.name}.npz", item)
    torch.manual_seed(0)
    config = ModelConfig(feature_dim=items[0].features.shape[1], num_classes=2, hidden=8)
    ckpt = tmp_path / "model.pt"
    save_checkpoint(ckpt, BackTAL(config), config, None, ["class_0", "class_1"])
    return data, ckpt


def _labels(path: Path) -> set[str]:
    results = json.loads(path.read_text())["results"]
    return {r["label"] for rows in results.values() for r in rows}


def test_predict_names_segments_from_gt_or_class_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, ckpt = _official_layout(tmp_path)
    out = tmp_path / "results.json"
    base = ["predict", "--ckpt", str(ckpt), "--data", str(data), "--out", str(out)]
    base += ["--device", "cpu"]

    assert main(base) == 0
    assert "checkpoint has no class names" in capsys.readouterr().err
    placeholder = _labels(out)
    assert placeholder and placeholder <= {"class_0", "class_1"}

    gt = _gt(tmp_path, {"database": _db(), "activity_list": ["Jump", "Throw"]})
    assert main([*base, "--gt", str(gt)]) == 0
    named = _labels(out)
    # same segments, index i -> activity_list[i]
    assert named == {{"class_0": "Jump", "class_1": "Throw"}[c] for c in placeholder}

    (tmp_path / "classes.txt").write_text("Jump\nThrow\n")
    assert main([*base, "--classes", str(tmp_path / "classes.txt")]) == 0
    assert _labels(out) == named

    capsys.readouterr()
    three = _gt(tmp_path, {"database": _db(), "activity_list": ["A", "B", "C"]})
    assert main([*base, "--gt", str(three)]) == 2
    assert "lists 3 classes but the model has 2" in capsys.readouterr().err
    assert main([*base, "--classes", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read class names" in capsys.readouterr().err
