"""Must-show: a comparison job on THUMOS14-sim features imported into a server gives exactly
the numbers of ``model.train.fit`` called directly on the same files with the same recipe,
seed, training videos and validation videos (a tiny sim written by the test; no ../shared).

The server side: ``make-sim`` → ``server.cli import-features`` (the training split with its
labels and clicks as an annotator, the test split as validation videos with the GT file) →
``POST /comparisons`` → the worker. The direct side: ``model.data.load_dataset`` of the same
folder, ``model.recipes.resolve``, ``model.compare.nested_click_subsets``, ``model.train.fit``
/ ``predict``, ``model.evaluate.compute_map`` and ``model.compare.per_video_map``."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from model import recipes
from model.compare import click_count, nested_click_subsets, paired_differences, per_video_map
from model.data import VideoItem, load_dataset
from model.evaluate import compute_map
from model.sim import SimParams, make_sim
from model.train import fit, predict
from server.cli import build_parser
from server.comparisons.check import check
from tests.model.tiny_thumos import write_inputs
from tests.server.comparisons.seed import API
from tests.server.helpers import FAST_WORKER, run_worker

CLICKS = [
    ("video_validation_0000001", 2.0),
    ("video_validation_0000001", 30.0),
    ("video_validation_0000001", 52.0),
    ("video_validation_0000002", 20.0),
    ("video_validation_0000002", 40.0),
    ("video_validation_0000003", 12.0),
    ("video_validation_0000003", 35.0),
]
OPTIONS = {"epochs": 3, "hidden": 8, "seed": 5}


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={**FAST_WORKER, "validation_min_videos": 2})


@pytest.fixture
def sim(tmp_path: Path) -> Path:
    gt, clicks = write_inputs(tmp_path, CLICKS)
    out = tmp_path / "sim"
    make_sim(gt, clicks, out, 0, SimParams(feature_dim=16, T=40), progress=False)
    return out


def import_features(settings: Any, *argv: str) -> None:
    args = build_parser().parse_args(["import-features", *argv])
    assert args.func(settings, args) == 0


def with_gt(items: list[VideoItem], gt: dict[str, Any], classes: list[str]) -> list[VideoItem]:
    """The items with the GT file's segments (the file the server imported), start order."""
    for it in items:
        rows = gt["database"][it.name]["annotations"]
        segs = [(float(a["segment"][0]), float(a["segment"][1]), classes.index(a["label"]))
                for a in rows]  # fmt: skip
        it.gt_segments = sorted(segs, key=lambda s: s[0]) or None
    return items


def test_comparison_equals_fit_called_directly(client, app, settings, admin, sim, capsys, tmp_path):
    import_features(settings, str(sim), "--split", "val", "--create-videos", "--labels-as", "A1")
    import_features(
        settings,
        str(sim),
        "--split", "test", "--create-videos", "--validation", "--gt", str(sim / "gt.json"),
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert "A1: 4 video labels, 7 background and 5 action clicks" in printed
    assert "marked 2 videos as validation" in printed
    import_features(settings, str(sim), "--split", "val", "--labels-as", "A1")  # again
    assert "A1: 4 video labels, 0 background and 0 action clicks" in capsys.readouterr().out
    r = client.post(f"{API}/comparisons", headers=admin.h, json=OPTIONS)
    assert r.status_code == 202, r.text
    arms = r.json()["job"]["params"]["arms"]
    assert arms == ["weak", "bg-click", "action-click", "both"]  # the sim has action clicks
    run_worker(settings)
    out = client.get(f"{API}/comparisons/{r.json()['job']['id']}", headers=admin.h).json()
    assert out["job"]["status"] == "succeeded", out["job"]
    result = out["result"]
    assert any(r["avg_0.1_0.7"] > 0 for r in result["runs"])  # not a table of zeros

    gt_file = json.loads((sim / "gt.json").read_text())
    train_items, classes = load_dataset(sim, "val")
    val_items, _ = load_dataset(sim, "test")
    train_items = with_gt(train_items, gt_file, classes)
    val_items = with_gt(val_items, gt_file, classes)
    assert result["videos"]["validation"] == [it.name for it in val_items]
    gt = {it.name: [(s, e, classes[c]) for s, e, c in it.gt_segments or []] for it in val_items}
    subsets = nested_click_subsets(train_items, result["fractions"], OPTIONS["seed"])
    per_video: dict[str, dict[str, float]] = {}
    assert [r["key"] for r in result["runs"]] == [*arms, "bg-click@25%", "bg-click@50%"]
    for run in result["runs"]:
        items = train_items if run["fraction"] == 1.0 else subsets[run["fraction"]]
        model_config, train_config = recipes.resolve(
            "studio",
            feature_dim=16,
            num_classes=len(classes),
            overrides={
                "hidden": OPTIONS["hidden"],
                "epochs": OPTIONS["epochs"],
                "seed": OPTIONS["seed"],
                "supervision": run["supervision"],
                "holdout_fraction": 0.2,  # the product's default
                "batch_size": min(16, len(items)),  # never more than the videos
            },
        )
        if run["key"] == "bg-click":
            assert result["recipe"]["model"] == model_config.to_dict()
            assert result["recipe"]["train"] == train_config.to_dict()
        direct = fit(train_config, model_config, items)
        preds = predict(direct.model, val_items, train_config.post)
        pr = {
            name: [(s, e, classes[c], score) for s, e, c, score in res.segments]
            for name, res in preds.items()
        }
        measured = compute_map(gt, pr)
        videos = per_video_map(gt, pr)
        # exactly the same numbers, not approximately
        assert run["best_epoch"] == direct.best_epoch, run["key"]
        assert run["mAP"] == measured["mAP"], run["key"]
        assert run["avg_0.1_0.7"] == measured["avg_0.1_0.7"], run["key"]
        assert run["per_video"] == {
            v: {"mAP@0.5": x["mAP@0.5"], "avg_0.1_0.7": x["avg_0.1_0.7"]} for v, x in videos.items()
        }, run["key"]
        uses_bg = run["supervision"] in ("bg-click", "both")
        assert run["background_clicks"] == (click_count(items) if uses_bg else 0)
        uses_action = run["supervision"] in ("action-click", "both")
        assert run["action_clicks"] == (5 if uses_action else 0)
        per_video[run["key"]] = {v: x["avg_0.1_0.7"] for v, x in videos.items()}
    for arm in arms[1:]:
        expected = paired_differences(per_video["weak"], per_video[arm], seed=OPTIONS["seed"])
        assert result["paired"][arm]["avg_0.1_0.7"] == expected
    curve = {p["key"]: p for p in result["learning_curve"]}
    assert [p["background_clicks"] for p in result["learning_curve"]] == [
        0, click_count(subsets[0.25]), click_count(subsets[0.5]), click_count(train_items)
    ]  # fmt: skip
    assert curve["bg-click@50%"]["avg_0.1_0.7"] == result["runs"][-1]["avg_0.1_0.7"]

    # python -m server.comparisons.check does the same from the server's data-set export
    export = client.get(f"{API}/export/dataset?format=official-npz", headers=admin.h)
    assert export.status_code == 200, export.text
    folder = tmp_path / "export"
    zipfile.ZipFile(io.BytesIO(export.content)).extractall(folder)
    ok, lines = check(result, folder)
    assert ok, "\n".join(lines)
    assert len(lines) == 6 + 3 and all(line.endswith("equal: True") for line in lines)
