"""The flag-depth study (``python -m bench.studies.flag_depth``): depth of a flag, AUC, bins and
the best threshold by hand, and its command on a tiny generated THUMOS14-sim (the decision
stored from the dev fold alone; a rerun resumes)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.studies import flag_depth as bench
from tests.bench.lab.test_click_qa import _inputs
from tests.bench.tiny import LEGACY, tiny_args, tiny_settings


def test_flag_depth_is_the_depth_in_the_deepest_flagged_segment() -> None:
    segs = [(10.0, 14.0, 0, 0.9), (11.0, 20.0, 1, 0.6), (12.0, 13.0, 2, 0.3)]
    depth = lambda t: bench.flag_depth(t, segs, min_score=0.5, margin_s=0.2)  # noqa: E731
    assert depth(9.0) is None  # outside every segment
    assert depth(10.1) is None  # inside [10, 14] but within its 0.2 s margin
    assert depth(10.5) == pytest.approx(0.5)  # only the first: 0.5 after its start
    # 12.5: first 1.5 before its end, second 1.5 after its start; the 0.3 one is not confident
    assert depth(12.5) == pytest.approx(1.5)
    assert depth(13.0) == pytest.approx(2.0)  # second: 2.0 after its start (first: 1.0)
    assert depth(19.0) == pytest.approx(1.0)  # second only: 1.0 before its end


def test_auc_counts_ties_half() -> None:
    assert bench.auc([3.0, 2.0], [1.0]) == 1.0
    assert bench.auc([1.0], [2.0, 3.0]) == 0.0
    # pairs (2 vs 1) win, (2 vs 2) tie, (1 vs 1) tie, (1 vs 2) lose: (1 + 0.5 + 0.5) / 4
    assert bench.auc([2.0, 1.0], [1.0, 2.0]) == 0.5
    assert bench.auc([], [1.0]) is None and bench.auc([1.0], []) is None


def test_bins_and_best_threshold_by_hand() -> None:
    depths = [0.3, 0.4, 0.7, 1.5, 2.0, 5.0]
    right = [False, False, True, False, True, True]
    bins = bench.by_bin(depths, right)
    assert [(b, n) for b, n, _ in bins] == [
        ((0.2, 0.5), 2),
        ((0.5, 1.0), 1),
        ((1.0, 2.0), 1),
        ((2.0, math.inf), 2),
    ]
    assert [p for _, _, p in bins] == [0.0, 1.0, 0.0, 1.0]
    assert bench.best_threshold(depths, right, inside_total=4) is None  # fewer than 10 flags
    depths10 = [0.3] * 5 + [1.0] * 10
    right10 = [False] * 5 + [True] * 6 + [False] * 4
    # ≥ 0.3: 6/15; ≥ 1.0: 6/10 (the best; recall 6 of 8 in-GT clicks)
    assert bench.best_threshold(depths10, right10, inside_total=8) == (0.6, 0.75, 1.0)


def test_fold_numbers_pool_runs_of_one_fold() -> None:
    runs = [
        {"clicks": [
            {"fold": 0, "inside": True, "depth_s": 1.0},
            {"fold": 0, "inside": False, "depth_s": 0.3},
            {"fold": 0, "inside": True, "depth_s": None},  # a missed error
            {"fold": 1, "inside": True, "depth_s": 0.1},
        ]},
        {"clicks": [{"fold": 0, "inside": False, "depth_s": None}]},
    ]  # fmt: skip
    n = bench.fold_numbers(runs, 0)
    assert (n["clicks"], n["inside"], n["flags"], n["right"]) == (4, 2, 2, 1)
    assert (n["precision"], n["recall"], n["auc"]) == (0.5, 0.5, 1.0)


def test_smoke_decides_on_dev_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "fold_of", lambda name: int(name[-1]) % 2)
    gt, csv = _inputs(tmp_path)
    out = tmp_path / "fd"
    assert bench.main(tiny_args(gt, csv, out, epochs=2) + LEGACY) == 0
    payload = json.loads((out / "flag_depth.json").read_text())
    assert payload["command"].startswith("python -m bench.studies.flag_depth --gt ")
    (run,) = payload["runs"]
    assert len(run["clicks"]) == 8 and sum(c["inside"] for c in run["clicks"]) == 3
    assert {c["fold"] for c in run["clicks"] if c["video"].endswith(("2", "4"))} == {0}
    decision = payload["decision"]
    assert decision["dev"] == bench.fold_numbers(payload["runs"], 0)
    assert decision["sort_deepest_first"] == (
        decision["dev"]["auc"] is not None and decision["dev"]["auc"] >= bench.AUC_TO_SORT
    )
    md = (out / "flag_depth.md").read_text()
    assert "Dev fold (all seeds pooled; decides)" in md and "Report fold, seed 0" in md
    # a rerun trains nothing and keeps the stored decision
    settings = tiny_settings(gt, csv, modes=("bg-click",))
    logs: list[str] = []
    again = bench.run_benchmark(settings, gt, csv, out, log=logs.append)
    assert again["decision"] == decision
    assert not any(m.endswith(": training") for m in logs)
    assert any(m.startswith("resuming: 1 trainings already in") for m in logs)
