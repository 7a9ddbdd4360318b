"""The supervision benchmark (bench.lab.supervision, ``python -m bench.supervision``) on a tiny
generated THUMOS14-sim: every mode through the command, the tables, plots and DETAD analyses,
a resume, --render-only, parallel jobs, an ablation."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bench import supervision as command
from bench.lab import supervision as bench
from bench.lab.reports import FP_TYPES
from bench.lab.settings import ALL_MODES, RUN_ORDER
from bench.lab.training import TIOUS
from tests.bench.tiny import LEGACY, tiny_args, tiny_settings
from tests.model.tiny_thumos import CLASSES, write_inputs

CLICKS_A = [("video_validation_0000001", 2.0), ("video_validation_0000002", 30.0)]


def test_every_mode_through_the_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gt, clicks = write_inputs(tmp_path, CLICKS_A)
    out = tmp_path / "bench"
    assert command.main(tiny_args(gt, clicks, out, epochs=1) + LEGACY) == 0
    printed = capsys.readouterr().out
    assert "# THUMOS14-sim supervision benchmark" in printed
    saved = json.loads((out / "supervision.json").read_text())
    settings = tiny_settings(gt, clicks, modes=ALL_MODES, epochs=1)
    assert saved["settings"] == settings.key()  # the options are the tiny settings
    assert saved["command"].startswith("python -m bench.supervision --gt ")
    assert [r["mode"] for r in saved["runs"]] == list(RUN_ORDER)
    for run in saved["runs"]:
        assert set(run["test"]["mAP"]) == {f"{t:g}" for t in TIOUS}
        assert 0.0 <= run["test"]["avg_0.1_0.7"] <= 1.0
        assert len(run["curve"]) == 1
    bg = next(r for r in saved["runs"] if r["mode"] == "bg-click")
    assert {"video_supp", "fg_norm"} <= set(bg["curve"][0])
    md = (out / "supervision.md").read_text()
    for mode in ALL_MODES:
        assert f"| {mode} | 0 |" in md
    assert "bg-click − action-click" in md and "video_supp s0" in md and "Plateau exit" in md
    # test predictions with class names, for `model.cli analyze`
    preds = json.loads((out / "preds" / "bg-click-seed0.json").read_text())["results"]
    assert {r["label"] for rows in preds.values() for r in rows} <= set(CLASSES)
    assert set(preds) == {"video_test_0000001", "video_test_0000002"}
    for png in ("map_per_tiou.png", "curves.png", "fp_breakdown.png"):
        assert (out / png).stat().st_size > 0
    assert "positives of the top-10G" in md and "1G bin" in md
    assert set(bg["fp_analysis"]["0.5"]["share_of_fp"]) >= set(FP_TYPES)
    assert bg["fp_analysis"]["profile_1G"].keys() >= set(FP_TYPES)

    # --render-only recomputes the analyses from the saved predictions, training nothing
    (out / "fp_breakdown.png").unlink()
    stripped = [{k: v for k, v in r.items() if k != "fp_analysis"} for r in saved["runs"]]
    (out / "supervision.json").write_text(json.dumps({**saved, "runs": stripped}))
    assert command.main(["--render-only", "--out-dir", str(out)]) == 0
    redone = json.loads((out / "supervision.json").read_text())
    assert [r["fp_analysis"] for r in redone["runs"]] == [r["fp_analysis"] for r in saved["runs"]]
    assert (out / "fp_breakdown.png").exists()

    # a rerun with the same settings resumes (nothing retrained)
    logs: list[str] = []
    again = bench.run_benchmark(settings, gt, clicks, out, log=logs.append)
    assert again["runs"] == redone["runs"] and not any(m.endswith(": training") for m in logs)


def test_parallel_jobs_give_the_same_runs_as_one_process(tmp_path: Path) -> None:
    gt, clicks = write_inputs(tmp_path, CLICKS_A)
    settings = tiny_settings(gt, clicks, modes=("weak", "bg-click"), epochs=1)
    one = bench.run_benchmark(settings, gt, clicks, tmp_path / "one", log=lambda _: None)
    two = bench.run_benchmark(settings, gt, clicks, tmp_path / "two", log=lambda _: None, jobs=2)

    def strip(runs):  # timings differ, everything else must not
        return [{k: v for k, v in r.items() if not k.endswith("_s")} for r in runs]

    assert strip(two["runs"]) == strip(one["runs"])


def test_zero_loss_ablation_switches_the_term_off(tmp_path: Path) -> None:
    gt, clicks = write_inputs(tmp_path, CLICKS_A)
    settings = replace(
        tiny_settings(gt, clicks, modes=("bg-click",), epochs=1), zero_losses=("click",)
    )
    payload = bench.run_benchmark(settings, gt, clicks, tmp_path / "b", log=lambda _: None)
    c = payload["runs"][0]["curve"][0]
    rest = (
        c["video_base"]
        + c["video_supp"]
        + 1e-4 * c["fg_norm"]
        + c["separation"]
        + 0.8 * c["embedding"]
    )
    assert c["click"] > 0 and c["total"] == pytest.approx(rest, rel=1e-5)
