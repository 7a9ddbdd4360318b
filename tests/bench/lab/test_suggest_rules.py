"""The suggestion-rule benchmark (bench.lab.suggest_rules, ``python -m bench.suggest_rules``):
the held-out choice by hand, the candidates (the product's default, each signal alone, the
coverage rule; the documented five under the legacy recipe, with their old results key), and
every arm through the command on a tiny generated THUMOS14-sim (resumable; the choice is
stored once every candidate has run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import suggest_rules as command
from bench.lab import suggest_rules as bench
from model.suggest import COVERAGE, MODEL_SIGNALS, REASONS, SuggestConfig, signal_weight
from tests.bench.tiny import SHAPE, tiny_settings
from tests.model.tiny_thumos import write_inputs

HERE = Path(__file__)


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


def test_rules_are_the_product_default_each_signal_alone_and_coverage() -> None:
    assert list(bench.RULES) == [
        "default",
        *(f"only-{r}" for r in MODEL_SIGNALS),
        f"only-{COVERAGE}",
    ]
    weights, floor = bench.RULES["default"]
    product = SuggestConfig()
    assert floor == product.min_score == 0.2
    for name in REASONS:  # the product's default ranking: the four model signals, no coverage
        assert signal_weight(SuggestConfig(weights=weights), name) == signal_weight(product, name)
    assert signal_weight(SuggestConfig(weights=weights), COVERAGE) == 0.0
    for rule in bench.RULES:
        if rule == "default":
            continue
        weights, floor = bench.RULES[rule]
        signal = rule.removeprefix("only-")
        assert floor == 0.01
        for name in REASONS:
            expected = 1.0 if name == signal else 0.0
            assert signal_weight(SuggestConfig(weights=weights), name) == expected, (rule, name)


def test_the_legacy_recipe_runs_the_documented_candidates_under_their_old_key() -> None:
    legacy = tiny_settings(HERE, HERE)
    assert bench.default_rules(legacy) == [
        "default",
        "only-low_confidence",
        "only-branch_disagreement",
        "only-segment_border",
        "only-unlabelled_activation",
    ]
    key = bench.results_key(legacy, 16, 0.0773, bench.default_rules(legacy))
    # the rules part of the key as the run of docs/research/guided.md stored it (four signals)
    signals = ["low_confidence", "branch_disagreement", "segment_border", "unlabelled_activation"]
    old = {"default": {"weights": dict.fromkeys(signals, 1.0), "min_score": 0.2}}
    for s in signals:
        old[f"only-{s}"] = {"weights": {q: float(q == s) for q in signals}, "min_score": 0.01}
    assert key["rules"] == old
    assert (key["k"], key["min_fill"], key["tail"]) == (16, 0.9, 10)
    named = tiny_settings(HERE, HERE).__class__(**{**legacy.__dict__, "recipe": "studio"})
    assert bench.default_rules(named) == list(bench.RULES)


def test_rules_must_include_the_default(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="include 'default'"):
        bench.run_benchmark(
            tiny_settings(HERE, HERE), HERE, HERE, tmp_path, rules=["only-coverage"]
        )
    with pytest.raises(SystemExit):
        command.build_parser().parse_args(["--rules", "default", "only-nothing"])


CLICKS = [
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


def test_every_arm_through_the_command_choice_then_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gt, csv = write_inputs(tmp_path, CLICKS)
    out = tmp_path / "rules"
    args = ["--gt", str(gt), "--clicks", str(csv), "--out-dir", str(out), *SHAPE]
    args += ["--epochs", "2", "--k", "4", "--set", "batch_size=2"]
    assert command.main(args) == 0
    logs = capsys.readouterr().out
    payload = json.loads((out / "suggest_rules.json").read_text())
    assert payload["settings"]["base"]["recipe"] == "studio"
    assert list(payload["settings"]["rules"]) == list(bench.RULES)

    arms = sorted(r["arm"] for r in payload["runs"])
    assert arms == sorted(["weak", "a1-all", "random-bg", *bench.RULES])
    assert payload["targets"] == {"0": 3}  # a third of A1's 9 clicks
    runs = {r["arm"]: r for r in payload["runs"]}
    assert set(runs["weak"]["suggestions"]) == set(bench.RULES)
    coverage = runs["weak"]["suggestions"]["only-coverage"]
    assert {s[2] for rows in coverage.values() for s in rows} <= {COVERAGE}
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
    assert not any("mAP" in m for m in logs.splitlines() if "] seed" in m)
    md = (out / "suggest_rules.md").read_text()
    assert "Chosen on held-out videos" in md and "| a1-all |" in md and "| only-coverage |" in md
    # a rerun trains nothing
    logged: list[str] = []
    settings = json.loads(json.dumps(payload["settings"]["base"]))
    assert settings["recipe_overrides"] == [["batch_size", 2]]
    again = bench.run_benchmark(_settings_of(args), gt, csv, out, k=4, log=logged.append)
    assert again["runs"] == payload["runs"]
    assert not any(m.endswith(": training") for m in logged)


def _settings_of(args: list[str]):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from bench.lab.settings import settings_from_args

    parsed = command.build_parser().parse_args(args)
    return replace(settings_from_args(parsed), modes=("weak", "bg-click"))
