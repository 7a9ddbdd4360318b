"""bench.product_retrain on a tiny sim: the product's Retrain and the direct fit of the same
configs run end to end, the epochs are timed, the report is written."""

from __future__ import annotations

import json
from pathlib import Path

from bench import product_retrain as pr
from tests.model.tiny_thumos import write_inputs


def test_plateau_exit_by_hand() -> None:
    assert pr.plateau_exit([3.05, 3.0, 2.7, 1.0]) == 3  # 0.9 · ln 21 = 2.74
    assert pr.plateau_exit([3.05, 3.04]) is None


def test_time_to_fraction_by_hand() -> None:
    ends = [10.0, 20.0, 30.0, 40.0]  # cumulative training seconds after epochs 1..4
    curve = [(2, 0.5), (4, 0.62)]
    assert pr.time_to_fraction(ends, curve, 0.6, 0.95) == (4, 40.0)  # 0.57 needed
    assert pr.time_to_fraction(ends, curve, 0.52, 0.95) == (2, 20.0)  # 0.494 needed
    assert pr.time_to_fraction(ends, curve, 1.0, 0.95) is None


def test_product_and_direct_runs_end_to_end(tmp_path: Path) -> None:
    gt, clicks = write_inputs(
        tmp_path, [("video_validation_0000001", 5.0), ("video_validation_0000002", 30.0)]
    )
    # the product reads a COIN file's background TagID as the number of classes (2 here)
    clicks.write_text(
        clicks.read_text(encoding="utf-8-sig").replace(",20,", ",2,"), encoding="utf-8-sig"
    )
    out = tmp_path / "out"
    assert pr.main([
        "--gt", str(gt), "--clicks", str(clicks), "--T", "40", "--feature-dim", "16",
        "--direct-seeds", "0", "--direct-threads", "1", "--curve-every", "20",
        "--out-dir", str(out),
    ]) == 0  # fmt: skip
    payload = json.loads((out / "product_retrain.json").read_text())
    run = payload["product"]["defaults"]
    assert run["recipe"].startswith("studio")  # Retrain's defaults are the studio recipe
    assert run["clicks_imported"]  # A1's file went in through the API
    assert run["epochs_run"] == len(run["video_supp"]) == len(run["epoch_times_s"]) >= 1
    assert run["peak_rss_mib"] > 0 and run["train_s"] > 0
    assert set(run["test"]["mAP"]) >= {"0.5"}
    (direct,) = payload["direct"]
    assert direct["seed"] == 0 and direct["epochs_run"] >= 1
    assert [e for e, _ in direct["test_curve"]] == [20, 40]  # every 20 epochs, and the last
    assert len(direct["epoch_end_s"]) == direct["epochs_run"]
    text = (out / "product_retrain.md").read_text()
    assert "product Retrain (defaults)" in text and "direct fit, seed 0" in text
    # --resume keeps both runs and adds only the new direct seed
    assert pr.main([
        "--gt", str(gt), "--clicks", str(clicks), "--T", "40", "--feature-dim", "16",
        "--direct-seeds", "0", "1", "--direct-threads", "1", "--out-dir", str(out), "--resume",
    ]) == 0  # fmt: skip
    again = json.loads((out / "product_retrain.json").read_text())
    assert again["product"] == payload["product"] and again["direct"][0] == direct
    assert [r["seed"] for r in again["direct"]] == [0, 1] and "--resume" in again["command"]
