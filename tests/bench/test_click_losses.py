"""bench.click_losses on a tiny sim: every kind of arm runs, resumes, and the reports render
(held-out only, then with the test split); the fold design by hand."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bench import click_losses as cl
from bench import click_losses_report as report
from tests.model.tiny_thumos import GT, write_inputs

CLICKS = [
    ("video_validation_0000001", 5.0),
    ("video_validation_0000001", 30.0),
    ("video_validation_0000002", 30.0),
    ("video_validation_0000003", 12.0),
]


def _settings(gt: Path, clicks: Path) -> cl.Settings:
    return cl.Settings(
        feature_dim=16,
        T=40,
        hidden=8,
        aux_hidden=8,
        epochs=2,
        gt_sha=hashlib.sha256(gt.read_bytes()).hexdigest(),
        clicks_sha=hashlib.sha256(clicks.read_bytes()).hexdigest(),
        refine={"hidden": 8, "epochs": 2, "batch_size": 2},
    )


def test_arm_names_parse_and_round_trip() -> None:
    for text in (
        "weak",
        "bg-click:filter",
        "bg-click:published@1000",
        "action-click:filter+refine",
    ):
        assert cl.Arm.parse(text).name == text
    arm = cl.Arm.parse("bg-click:keep-labelled+refine@7")
    assert (arm.mode, arm.click_loss, arm.refine, arm.offset) == (
        "bg-click",
        "keep-labelled",
        True,
        7,
    )
    assert arm.first_stage.name == "bg-click:keep-labelled@7"
    assert cl.Arm.parse("bg-click").name == "bg-click:published"
    for bad in ("clicks", "bg-click:everything", "weak+twice"):
        with pytest.raises(ValueError):
            cl.Arm.parse(bad)


def test_the_library_scores_the_tious_the_statistics_use() -> None:
    from bench import stats
    from bench.lab import click_losses as lab

    assert lab.TIOUS == stats.TIOUS


def test_folds_are_fixed_balanced_and_name_order_free() -> None:
    names = [f"video_validation_{i:07d}" for i in range(200)]
    folds = cl.fold_of(names)
    assert sorted(folds) == sorted(names)
    assert [list(folds.values()).count(k) for k in range(5)] == [40] * 5  # 5 × 40
    assert cl.fold_of(list(reversed(names))) == folds  # depends on the names only


def test_every_arm_kind_runs_resumes_and_reports(tmp_path: Path) -> None:
    gt, clicks = write_inputs(tmp_path, CLICKS)
    settings = _settings(gt, clicks)
    arms = [
        "weak",
        "bg-click:published",
        "bg-click:filter",
        "bg-click:filter+refine",
        "bg-click:filter@1000",
    ]
    out = tmp_path / "out"
    payload = cl.run_benchmark(settings, arms, [3], [0, 1], gt, clicks, out, 1, print)
    runs = {(r["arm"], r["seed"]): r for r in payload["runs"]}
    assert set(runs) == {(a, s) for a in arms for s in (0, 1)}
    refine = runs["bg-click:filter+refine", 0]
    assert refine["refine"]["best_epoch"] in (1, 2) and "pseudo_fg_share" in refine["refine"]
    # the second stage reused the first stage's checkpoint (trained once)
    assert refine["best_epoch"] == runs["bg-click:filter", 0]["best_epoch"]
    first = runs["bg-click:filter", 0]
    assert first["recipe"].startswith("studio + ") and "click_loss=filter" in first["recipe"]
    assert len(first["history"]) == 2 and "holdout_mAP_0.1_0.7" in first["history"][0]
    # seed s holds out fold s: the held-out predictions are of that fold's videos only
    folds = cl.fold_of([n for n, v in GT["database"].items() if v["subset"] == "validation"])
    for seed in (0, 1):
        held = cl.load_preds(out, "weak", 3, seed, "heldout")
        assert set(held) == {n for n, k in folds.items() if k == seed}
        assert len(cl.load_preds(out, "weak", 3, seed, "test")) == 2
    # a rerun trains nothing new
    again = cl.run_benchmark(settings, arms, [3], [0, 1], gt, clicks, out, 1, print)
    assert len(again["runs"]) == 10
    with pytest.raises(SystemExit, match="other settings"):
        cl.run_benchmark(
            _settings(gt, clicks).__class__(**{**settings.__dict__, "epochs": 3}),
            arms, [3], [0], gt, clicks, out, 1, print,
        )  # fmt: skip

    held_text = report.render([out], "heldout", draws=20)
    assert "held-out folds" in held_text and "test" not in held_text.split("\n")[0]
    assert "## Sim v3, test" not in held_text
    assert "bg-click:filter@1000 − bg-click:filter" in held_text  # the noise floor pair
    assert "bg-click:filter − weak" in held_text
    assert "Family 1: the choice on held-out folds" in held_text
    decision = json.loads((out / "decision-family1.json").read_text())
    assert decision["chosen"] == "bg-click:filter"  # the only candidate with the reference
    assert set(decision["table"]["bg-click:filter"]) == {"3"}  # JSON keys: the version
    assert "Family 2: the second stage on held-out folds" in held_text
    assert "| bg-click:filter+refine − bg-click:filter |" in held_text
    second = json.loads((out / "decision-family2.json").read_text())
    assert second["table"]["bg-click:filter+refine"]["3"]["base"] == "bg-click:filter"
    assert not second["decided"]  # the rule's arm (bg-click:published+refine) was not run
    assert "test mAP per tIoU" not in held_text and "DETAD" not in held_text
    test_text = report.render([out], "test", draws=20)
    assert "## Sim v3, test" in test_text
    assert "Sim v3, test mAP per tIoU" in test_text and (out / "per-tiou-v3.png").is_file()
    assert "DETAD breakdown at tIoU 0.5" in test_text and "| bg-click:filter+refine |" in test_text
    assert (out / "curves-v3.png").is_file()
    stored = json.loads((out / "runs.json").read_text())
    assert stored["settings"]["refine"]["hidden"] == 8
