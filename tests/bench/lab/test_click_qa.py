"""The click-QA benchmark (bench.lab.click_qa, ``python -m bench.click_qa``): folds, depth, the
per-click signals and the rule choice by hand, and a smoke run of every source on a tiny
generated THUMOS14-sim (resumable, rule chosen on the dev fold only; the ceiling alone through
the command)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import click_qa as command
from bench.lab import click_qa as bench
from tests.bench.tiny import LEGACY, tiny_args, tiny_settings
from tests.model import tiny_thumos


# ----------------------------------------------------------------------------- pieces
def test_folds_are_a_fixed_hash_of_the_name() -> None:
    # crc32("qa-fold:video_validation_0000004") is even, ...0001 odd (computed once by hand
    # with zlib; the split must never depend on the seed or the order)
    assert bench.fold_of("video_validation_0000004") == 0
    assert bench.fold_of("video_validation_0000001") == 1
    names = [f"video_validation_{i:07d}" for i in range(1, 201)]
    counts = np.bincount([bench.fold_of(n) for n in names], minlength=2)
    assert counts.sum() == 200 and 80 <= counts[0] <= 120


def test_depth_inside_is_the_distance_to_the_nearer_edge() -> None:
    gt = [(10.0, 20.0, 0), (18.0, 30.0, 1)]
    assert bench.depth_inside(9.9, gt) is None
    assert bench.depth_inside(10.0, gt) == 0.0
    assert bench.depth_inside(12.5, gt) == pytest.approx(2.5)
    # 19 s: 1 s inside the first, 1 s inside the second (19-18) -> deepest = 1
    assert bench.depth_inside(19.0, gt) == pytest.approx(1.0)
    assert bench.depth_inside(25.0, gt) == pytest.approx(5.0)
    assert bench.depth_inside(5.0, None) is None


def test_click_signals_by_hand() -> None:
    segments = [(10.0, 12.0, 0, 0.9), (11.0, 20.0, 1, 0.4)]
    cas = np.array([[0.1, 0.8, 0.3], [0.6, 0.2, 0.9]])
    fg = {"fg_base": np.array([0.2, 0.7, 0.5])}
    out = bench.click_signals(11.9, 1, segments, cas, np.array([1.0, 0.0]), fg)
    # margin 0: both segments contain 11.9 -> 0.9; margin 0.2: 11.9 > 12 - 0.2 leaves the
    # first -> 0.4 (11.9 in [11.2, 19.8]); margin 0.5: first [10.5, 11.5] no, second
    # [11.5, 19.5] yes -> 0.4
    assert out["seg_m0"] == 0.9
    assert out["seg_m0.2"] == 0.4
    assert out["seg_m0.5"] == 0.4
    assert out["cas"] == 0.8  # labelled class 0 only, snippet 1
    assert out["fg_base"] == 0.7
    out = bench.click_signals(10.2, 1, segments, cas, np.array([0.0, 0.0]), fg)
    # 10.2: in the first with margins 0 and 0.2 ([10.2, 11.8]), not with 0.5 ([10.5, 11.5]);
    # never in the second (from 11)
    assert (out["seg_m0"], out["seg_m0.2"], out["seg_m0.5"]) == (0.9, 0.9, 0.0)
    assert out["cas"] == 0.8  # no label: every class counts (max of 0.8, 0.2)


def test_precision_recall_by_hand() -> None:
    scores = np.array([0.9, 0.8, 0.5, 0.3, 0.1])
    truth = np.array([True, False, True, False, False])
    assert bench.precision_recall(scores, truth, 0.5) == (2 / 3, 1.0, 3)
    assert bench.precision_recall(scores, truth, 0.85) == (1.0, 0.5, 1)
    assert bench.precision_recall(scores, truth, 0.95) == (None, 0.0, 0)
    assert bench.precision_recall(scores, np.zeros(5, bool), 0.5) == (0.0, None, 3)


def test_choose_rule_highest_recall_at_the_precision_floor() -> None:
    truth = np.array([True, True, False, True, False, False, False, False])
    a = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])  # P/R at 0.6: 3/4, 1.0
    b = np.array([0.9, 0.1, 0.8, 0.7, 0.2, 0.2, 0.2, 0.2])  # at 0.7: 2/3, 2/3
    rule = bench.choose_rule({("s", "a"): (a, truth), ("s", "b"): (b, truth)}, min_flags=1)
    assert (rule.signal, rule.threshold, rule.recall, rule.precision) == ("a", 0.6, 1.0, 0.75)
    assert rule.criterion.startswith("recall")
    # the flag floor: with >= 5 flags the 0.6 threshold (4 flags) no longer counts;
    # a at 0.5: P 3/5 = 0.6, R 1.0
    rule = bench.choose_rule({("s", "a"): (a, truth)}, min_flags=5)
    assert (rule.threshold, rule.flags) == (0.5, 5)
    # nothing reaches precision 0.8 with >= 5 flags -> highest precision at recall >= 0.7
    rule = bench.choose_rule({("s", "a"): (a, truth)}, min_precision=0.8, min_flags=5)
    assert (rule.threshold, rule.precision) == (0.5, 0.6)
    assert rule.criterion.startswith("precision")
    assert bench.choose_rule({("s", "a"): (a, truth)}, min_precision=0.9, min_recall=1.1) is None


# ----------------------------------------------------------------------------- smoke
def _inputs(folder: Path) -> tuple[Path, Path]:
    gt, csv = tiny_thumos.write_inputs(
        folder,
        [
            ("video_validation_0000001", 2.0),
            ("video_validation_0000001", 15.0),  # inside Jump 10-20
            ("video_validation_0000001", 30.0),
            ("video_validation_0000002", 30.0),
            ("video_validation_0000002", 8.0),  # inside Throw 5-12
            ("video_validation_0000003", 12.0),
            ("video_validation_0000004", 3.0),
            ("video_validation_0000004", 25.0),  # inside Jump 20-28
        ],
    )
    data = json.loads(gt.read_text())
    data["database"]["video_validation_0000004"] = tiny_thumos._video(
        "validation", 45.0, [(20, 28, "Jump")]
    )
    gt.write_text(json.dumps(data))
    return gt, csv


def test_smoke_every_source_rule_on_dev_then_a1_qa(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two videos per fold (the real hash puts the tiny set's 1-3 in one fold)
    monkeypatch.setattr(bench, "fold_of", lambda name: int(name[-1]) % 2)
    gt, csv = _inputs(tmp_path)
    settings = tiny_settings(gt, csv)
    out = tmp_path / "qa"
    logs: list[str] = []
    payload = bench.run_benchmark(settings, gt, csv, out, log=logs.append, min_flags=1)

    clicks = payload["clicks"]["0"]
    assert len(clicks) == 8 and sum(c["inside"] for c in clicks) == 3
    assert {c["fold"] for c in clicks if c["video"].endswith(("2", "4"))} == {0}
    runs = {(r["arm"], r["fold"]): r for r in payload["runs"]}
    assert set(runs) == {
        ("weak", None), ("active", None), ("xfit", 0), ("xfit", 1),
        ("upper-xfit", 0), ("upper-xfit", 1), ("a1-qa", None),
    }  # fmt: skip
    # each cross-fitted model checks the other fold's clicks only, and trained on its own
    assert set(runs["xfit", 0]["signals"]) == {
        "video_validation_0000001",
        "video_validation_0000003",
    }
    assert runs["xfit", 0]["clicks"] == 4 and runs["xfit", 1]["clicks"] == 4
    assert set(runs["weak", None]["signals"]) == {c["video"] for c in clicks}
    assert set(runs["upper-xfit", 1]["signals"]["video_validation_0000002"][0]) == set(
        bench.UPPER_SIGNALS
    )
    assert set(runs["active", None]["signals"]["video_validation_0000002"][0]) == set(bench.SIGNALS)

    # the rule was chosen on the dev fold's clicks alone and a1-qa trained without its flags
    rule = payload["rule"]
    assert rule["source"] in bench.PRODUCT_SOURCES
    cands = bench.dev_candidates(payload)
    again = bench.choose_rule(cands, min_flags=1)
    assert (again.source, again.signal, again.threshold) == (
        rule["source"],
        rule["signal"],
        rule["threshold"],
    )
    scores, _, folds = bench.source_scores(payload, 0, rule["source"], rule["signal"])
    assert len(cands[rule["source"], rule["signal"]][0]) == int((folds == 0).sum())
    flagged = int((scores >= rule["threshold"]).sum())
    assert runs["a1-qa", None]["clicks"] == 8 - flagged
    assert any(m.startswith("rule chosen on the dev fold") for m in logs)

    md = (out / "click_qa.md").read_text()
    assert "Chosen on the dev fold" in md and "| upper-xfit | fg |" in md
    assert (out / "click_qa.png").stat().st_size > 0
    # a rerun trains nothing and keeps the rule
    logs.clear()
    second = bench.run_benchmark(settings, gt, csv, out, log=logs.append, min_flags=1)
    assert second["runs"] == json.loads((out / "click_qa.json").read_text())["runs"]
    assert second["rule"] == rule and not any(m.endswith(": training") for m in logs)

    # ``--arms`` limits which trainings run (the ceiling alone here), not what they compute
    upper_dir = tmp_path / "upper"
    args = tiny_args(gt, csv, upper_dir, epochs=2) + LEGACY + ["--arms", "upper-xfit"]
    assert command.main(args) == 0
    only = json.loads((upper_dir / "click_qa.json").read_text())
    assert {(r["arm"], r["fold"]) for r in only["runs"]} == {("upper-xfit", 0), ("upper-xfit", 1)}
    assert only.get("rule") is None and only["settings"] == payload["settings"]
    upper = {r["fold"]: r["signals"] for r in only["runs"]}
    assert upper == {r["fold"]: r["signals"] for r in payload["runs"] if r["arm"] == "upper-xfit"}
