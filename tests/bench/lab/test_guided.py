"""The guided benchmark (bench.lab.guided, ``python -m bench.guided``) on a tiny generated
THUMOS14-sim: every arm over 2 rounds (resumable), parallel jobs, baselines at chosen rounds,
QA by the weak model; the options; and the command under the studio recipe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import guided as command
from bench.lab import guided, guided_report
from bench.lab.sims import load_sim_items
from bench.lab.training import TIOUS
from tests.bench.lab.test_annotator import A1
from tests.bench.tiny import SHAPE, tiny_settings
from tests.model.tiny_thumos import write_inputs


def _settings(gt: Path, clicks: Path, epochs: int = 2):
    return tiny_settings(gt, clicks, epochs=epochs)


def _options(error_rate: float = 0.125, **kw: Any) -> guided.GuidedOptions:
    base = {
        "schedule": (0.5, 1.0),
        "k": 4,
        "error_rate": error_rate,
        "error_rate_source": "test",
        "min_score": 0.0,  # the 2-epoch model is unsure everywhere: take whatever it ranks
    }
    return guided.GuidedOptions(**{**base, **kw})


def test_options_quick_schedule_lookalike_and_measured_error_rate(tmp_path: Path) -> None:
    gt, csv = write_inputs(tmp_path, A1)
    parser = command.build_parser()
    args = parser.parse_args(["--quick", "--gt", str(gt), "--clicks", str(csv)])
    settings, options = guided.options_from_args(args)
    assert settings.seeds == (0,) and settings.limit == 60 and settings.epochs == 10
    assert settings.recipe == "studio" and settings.modes == ("weak", "bg-click")
    assert len(options.schedule) == 2 and options.error_rate == pytest.approx(1 / 8)
    assert options.error_rate_source == "A1 measured"
    args = parser.parse_args(
        ["--gt", str(gt), "--clicks", str(csv), "--lookalike-rate", "2", "--error-rate", "0"]
    )
    settings, options = guided.options_from_args(args)
    assert settings.key()["sim_params"]["lookalike_rate_per_min"] == 2.0
    assert len(options.schedule) == 4 and options.error_rate == 0.0
    assert round(options.schedule[1] * 2264) == 755
    legacy, _ = guided.options_from_args(
        parser.parse_args(["--gt", str(gt), "--clicks", str(csv), "--legacy-recipe"])
    )
    assert legacy.recipe == "" and legacy.lr == 1e-3 and legacy.standardize
    for bad in (["--schedule", "0.5", "0.2"], ["--k", "0"], ["--modes", "weak"]):
        with pytest.raises(SystemExit):
            guided.options_from_args(
                parser.parse_args(["--gt", str(gt), "--clicks", str(csv), *bad])
            )


def test_smoke_every_arm_two_rounds_resumable(tmp_path: Path) -> None:
    gt, csv = write_inputs(tmp_path, A1)
    settings, options = _settings(gt, csv), _options()
    out = tmp_path / "bench"
    payload = guided.run_benchmark(settings, options, gt, csv, out, log=lambda _: None)

    runs = {(r["arm"], r["round"]): r for r in payload["runs"]}
    expected = {("weak", 0), ("a1-all", None), ("a1-qa", None)}
    expected |= {(arm, r) for arm in guided.ROUND_ARMS for r in (1, 2)}
    assert set(runs) == expected and len(payload["runs"]) == len(expected)
    assert payload["a1_clicks"] == {"0": 8} and payload["targets"] == {"0": [4, 8]}
    assert payload["a1_snippets"] == {"0": 8}
    for run in payload["runs"]:
        assert set(run["test"]["mAP"]) == {f"{t:g}" for t in TIOUS}
        assert run["cpu_s"] >= 0 and run["total_s"] >= run["train_s"]
    assert runs["weak", 0]["clicks"] == 0 and "suggestions" in runs["weak", 0]
    assert "suggestions" in runs["guided", 1] and "suggestions" not in runs["guided", 2]
    assert runs["a1-all", None]["clicks"] == 8 and runs["a1-all", None]["clicks_inside_gt"] == 1
    annotation = payload["annotation"]["0"]
    assert [a["round"] for a in annotation] == [1, 2]
    for r, stats in zip((1, 2), annotation, strict=True):
        n_guided = runs["guided", r]["clicks"]
        assert n_guided == stats["clicks"] <= stats["target"]
        # baselines at the same click count (random-bg: the same count per video)
        assert runs["a1-subset", r]["clicks"] == n_guided == runs["random-bg", r]["clicks"]
        assert runs["random-bg", r]["clicks_inside_gt"] == 0
    assert runs["guided", 2]["clicks"] >= runs["guided", 1]["clicks"]

    qa = runs["a1-all", None]["qa"]
    assert qa["clicks"] == 8 and qa["inside_gt"] == 1
    assert runs["a1-qa", None]["clicks"] == 8 - qa["flagged"]

    md = (out / "guided.md").read_text()
    for heading in ("Must-show goals", "Click QA", "Simulated annotation per round", "CPU min"):
        assert heading in md
    assert "| guided | 2 | 0 |" in md and "| a1-all |" in md
    saved = json.loads((out / "guided.json").read_text())
    assert saved["settings"] == guided.results_key(settings, options)
    assert (out / "guided.png").stat().st_size > 0

    # a rerun with the same settings trains nothing; changed options start afresh
    logs: list[str] = []
    again = guided.run_benchmark(settings, options, gt, csv, out, log=logs.append)
    assert again["runs"] == saved["runs"] and not any(m.endswith(": training") for m in logs)
    assert guided.results_key(settings, _options(k=3)) != saved["settings"]


def test_parallel_jobs_give_the_same_runs_as_one_process(tmp_path: Path) -> None:
    gt, csv = write_inputs(tmp_path, A1)
    settings, options = _settings(gt, csv, epochs=1), _options()
    one = guided.run_benchmark(settings, options, gt, csv, tmp_path / "one", log=lambda _: None)
    two = guided.run_benchmark(
        settings, options, gt, csv, tmp_path / "two", log=lambda _: None, jobs=2
    )

    def strip(runs):  # timings differ, everything else must not
        return [{k: v for k, v in r.items() if not k.endswith("_s")} for r in runs]

    assert strip(two["runs"]) == strip(one["runs"])
    assert two["annotation"] == one["annotation"]


def test_baseline_rounds_limit_the_baselines_only(tmp_path: Path) -> None:
    """``baseline_rounds``: the baselines at those rounds' click counts only; the guided chain
    and the references run as always, and the results key is unchanged (a resume with or
    without the option reuses what exists)."""
    gt, csv = write_inputs(tmp_path, A1)
    settings, options = _settings(gt, csv, epochs=1), _options()
    out = tmp_path / "b"
    payload = guided.run_benchmark(
        settings, options, gt, csv, out, log=lambda _: None, baseline_rounds=[2]
    )
    runs = {(r["arm"], r["round"]) for r in payload["runs"]}
    assert runs == {
        ("weak", 0),
        ("guided", 1),
        ("guided", 2),
        ("a1-subset", 2),
        ("random-bg", 2),
        ("a1-all", None),
        ("a1-qa", None),
    }
    logs: list[str] = []
    full = guided.run_benchmark(settings, options, gt, csv, out, log=logs.append)
    trained = [m for m in logs if m.endswith(": training")]
    assert len(trained) == 2 and all("round 1" in m for m in trained), trained
    assert len(full["runs"]) == 9


def test_qa_by_the_weak_model(tmp_path: Path) -> None:
    """``qa_weak``: the weak model retrained (the same model: same seed, deterministic) checks
    A1's clicks, and bg-click is retrained without the clicks it flags."""
    gt, csv = write_inputs(tmp_path, A1)
    settings, options = _settings(gt, csv, epochs=1), _options()
    payload = guided.run_benchmark(
        settings,
        options,
        gt,
        csv,
        tmp_path / "q",
        log=lambda _: None,
        baseline_rounds=[],
        qa_weak=True,
    )
    runs = {(r["arm"], r["round"]): r for r in payload["runs"]}
    weak, weak_qa, after = runs["weak", 0], runs["weak-qa", None], runs["a1-qa-weak", None]
    assert weak_qa["test"] == weak["test"] and weak_qa["clicks"] == 0
    qa = weak_qa["qa"]
    assert qa["clicks"] == 8 and qa["inside_gt"] == 1
    assert after["clicks"] == 8 - qa["flagged"]
    md = guided_report.render(payload)
    assert "| weak (no clicks) |" in md and "| a1-all (active) |" in md


def test_the_command_under_the_studio_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m bench.guided`` with its defaults trains through model.recipes (studio, the
    benchmark's widths, ``--click-loss`` and ``--set`` on top), on raw features."""
    gt, csv = write_inputs(tmp_path, A1)
    seen: list[Any] = []
    real_fit = guided.fit

    def spy(config, model_config, items, **kw):  # type: ignore[no-untyped-def]
        seen.append((config, model_config, items))
        return real_fit(config, model_config, items, **kw)

    monkeypatch.setattr(guided, "fit", spy)
    out = tmp_path / "studio"
    args = ["--gt", str(gt), "--clicks", str(csv), "--out-dir", str(out), *SHAPE, "--epochs", "1"]
    args += ["--schedule", "1", "--baseline-rounds", "1", "--k", "4", "--error-rate", "0.125"]
    args += ["--click-loss", "no-click-ce", "--set", "batch_size=2"]
    assert command.main(args) == 0
    saved = json.loads((out / "guided.json").read_text())
    base = saved["settings"]["base"]
    assert base["recipe"] == "studio" and "lr" not in base and "standardize" not in base
    assert base["recipe_overrides"] == [["batch_size", 2], ["click_loss", "no-click-ce"]]
    assert saved["command"].startswith("python -m bench.guided --gt ")
    arms = {(r["arm"], r["round"]) for r in saved["runs"]}
    assert {("weak", 0), ("a1-all", None), ("a1-qa", None)} <= arms
    configs = {c.supervision: (c, m) for c, m, _ in seen}
    assert set(configs) == {"weak", "bg-click"} and len(seen) == len(saved["runs"])
    config, model_config = configs["bg-click"]
    assert config.recipe == "studio" and config.lr_scaling == "width" and config.lr == 1e-4
    assert (config.click_loss, config.batch_size, config.epochs) == ("no-click-ce", 2, 1)
    assert (model_config.hidden, model_config.input_norm, config.holdout_fraction) == (
        8,
        "standardize",
        0.34,
    )
    raw, _, _ = load_sim_items(out / "sim-seed0", False)  # not z-scored by the benchmark
    assert all(np.array_equal(a.features, b.features) for a, b in zip(seen[0][2], raw, strict=True))
    assert (out / "guided.md").exists()
