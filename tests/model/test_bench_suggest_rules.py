"""bench/suggest_rules.py: the held-out choice by hand and a smoke run of every arm on a tiny
generated THUMOS14-sim (resumable; the choice is stored once every candidate has run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.model import tiny_thumos
from tests.model.tiny_thumos import bench_settings, write_inputs

bench = tiny_thumos.load_bench("suggest_rules")
sup = bench.sup


def test_tail_mean_skips_missing_epochs() -> None:
    assert bench.tail_mean([0.1, 0.2, 0.3, 0.5], tail=2) == pytest.approx(0.4)
    assert bench.tail_mean([0.1, None, 0.3], tail=2) == pytest.approx(0.3)
    assert bench.tail_mean([None, None], tail=2) is None
    assert bench.tail_mean([0.2], tail=10) == pytest.approx(0.2)


def test_choose_rule_by_mean_over_seeds_among_the_filled() -> None:
    held = {"a": [0.30, 0.40], "b": [0.50, 0.10], "c": [0.36, 0.36], "d": [0.9, None]}
    # means: a 0.35, b 0.30, c 0.36; d lacks a seed
    assert bench.choose_rule(held) == "c"
    assert bench.choose_rule(held, {"a": True, "b": True, "c": False, "d": True}) == "a"
    assert bench.choose_rule(held, dict.fromkeys(held, False)) is None
    # ties go to the earlier rule
    assert bench.choose_rule({"x": [0.2, 0.4], "y": [0.3, 0.3]}) == "x"


def test_rules_are_the_product_default_and_each_signal_alone() -> None:
    weights, floor = bench.RULES["default"]
    assert set(weights.values()) == {1.0} and floor == bench.SuggestConfig.min_score
    singles = [r for r in bench.RULES if r != "default"]
    assert len(singles) == len(bench.REASONS)
    for rule in singles:
        weights, floor = bench.RULES[rule]
        assert sorted(weights.values()) == [0.0] * (len(bench.REASONS) - 1) + [1.0]
        assert weights[rule.removeprefix("only-")] == 1.0 and floor == 0.01


def test_smoke_every_arm_choice_then_report(tmp_path: Path) -> None:
    clicks = [
        ("video_validation_0000001", 2.0),
        ("video_validation_0000001", 15.0),
        ("video_validation_0000001", 30.0),
        ("video_validation_0000001", 50.0),
        ("video_validation_0000002", 2.0),
        ("video_validation_0000002", 30.0),
        ("video_validation_0000003", 12.0),
        ("video_validation_0000003", 35.0),
        ("video_validation_0000003", 38.0),
    ]
    gt, csv = write_inputs(tmp_path, clicks)
    settings = bench_settings(sup.Settings, gt, csv)
    out = tmp_path / "rules"
    logs: list[str] = []
    payload = bench.run_benchmark(settings, gt, csv, out, k=4, log=logs.append)

    arms = sorted(r["arm"] for r in payload["runs"])
    assert arms == sorted(["weak", "a1-all", "random-bg", *bench.RULES])
    assert payload["targets"] == {"0": 3}  # a third of A1's 9 clicks
    runs = {r["arm"]: r for r in payload["runs"]}
    assert set(runs["weak"]["suggestions"]) == set(bench.RULES)
    assert runs["a1-all"]["clicks"] == 9
    stats = payload["annotation"]["0"]
    for rule in bench.RULES:
        assert runs[rule]["clicks"] == stats[rule]["clicks"] <= 3
        assert len(runs[rule]["heldout_curve"]) == 2
    # random-bg: the default rule's count per video, none inside GT
    assert runs["random-bg"]["clicks"] == runs["default"]["clicks"]
    assert runs["random-bg"]["clicks_inside_gt"] == 0
    # the choice: held-out only, among rules that filled 90 % of the target
    choice = payload["choice"]
    filled = {r: stats[r]["clicks"] >= 0.9 * 3 for r in bench.RULES}
    assert choice["filled"] == filled
    held = {r: [runs[r]["heldout_tail"]] for r in bench.RULES}
    assert choice["rule"] == bench.choose_rule(held, filled)
    # test numbers are never logged while the trainings run
    assert not any("mAP" in m for m in logs)
    md = (out / "suggest_rules.md").read_text()
    assert "Chosen on held-out videos" in md and "| a1-all |" in md
    # a rerun trains nothing
    logs.clear()
    again = bench.run_benchmark(settings, gt, csv, out, k=4, log=logs.append)
    assert again["runs"] == json.loads((out / "suggest_rules.json").read_text())["runs"]
    assert not any(m.endswith(": training") for m in logs)
