"""Smoke test of bench/supervision.py on a tiny generated THUMOS14-sim (every mode, 1 epoch)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from model.sim import SimParams
from tests.model import tiny_thumos
from tests.model.tiny_thumos import BG, CLASSES, HEADER, bench_settings, write_inputs

bench = tiny_thumos.load_bench("supervision")


def _inputs(folder: Path, clicks: list[tuple[str, float]]) -> tuple[Path, Path]:
    return write_inputs(folder, clicks)


CLICKS_A = [("video_validation_0000001", 2.0), ("video_validation_0000002", 30.0)]
CLICKS_B = [("video_validation_0000003", 35.0)]  # "a second annotator"


def _settings(gt: Path, clicks: Path, modes: tuple[str, ...]):
    return bench_settings(bench.Settings, gt, clicks, modes=modes, epochs=1)


def test_every_mode_runs_and_the_table_is_written(tmp_path: Path) -> None:
    gt, clicks = _inputs(tmp_path, CLICKS_A)
    out = tmp_path / "bench"
    settings = _settings(gt, clicks, bench.ALL_MODES)
    payload = bench.run_benchmark(settings, gt, clicks, out, log=lambda _: None)

    assert [r["mode"] for r in payload["runs"]] == list(bench.RUN_ORDER)
    assert set(bench.RUN_ORDER) == set(bench.ALL_MODES)
    for run in payload["runs"]:
        assert set(run["test"]["mAP"]) == {f"{t:g}" for t in bench.TIOUS}
        assert 0.0 <= run["test"]["avg_0.1_0.7"] <= 1.0
        assert len(run["curve"]) == 1
    bg = next(r for r in payload["runs"] if r["mode"] == "bg-click")
    assert {"video_supp", "fg_norm"} <= set(bg["curve"][0])
    saved = json.loads((out / "supervision.json").read_text())
    assert len(saved["runs"]) == len(bench.ALL_MODES)
    md = (out / "supervision.md").read_text()
    for mode in bench.ALL_MODES:
        assert f"| {mode} | 0 |" in md
    assert "bg-click − action-click" in md and "video_supp s0" in md

    assert "Plateau exit" in md
    # test predictions with class names, for `model.cli analyze`
    preds = json.loads((out / "preds" / "bg-click-seed0.json").read_text())["results"]
    labels = {r["label"] for rows in preds.values() for r in rows}
    assert labels <= set(CLASSES)
    assert set(preds) == {"video_test_0000001", "video_test_0000002"}
    assert (out / "map_per_tiou.png").stat().st_size > 0
    assert (out / "curves.png").stat().st_size > 0
    assert (out / "fp_breakdown.png").stat().st_size > 0
    assert "positives of the top-10G" in md
    shares = bg["fp_analysis"]["0.5"]["share_of_fp"]
    assert set(shares) >= set(bench.FP_TYPES)
    assert "1G bin" in md and bg["fp_analysis"]["profile_1G"].keys() >= set(bench.FP_TYPES)
    # --render-only recomputes the analyses from the saved predictions, training nothing
    (out / "fp_breakdown.png").unlink()
    (out / "supervision.json").write_text(
        json.dumps(
            {
                **saved,
                "runs": [{k: v for k, v in r.items() if k != "fp_analysis"} for r in saved["runs"]],
            }
        )
    )
    redone = bench.reanalyze(out)
    assert [r["fp_analysis"] for r in redone["runs"]] == [r["fp_analysis"] for r in saved["runs"]]
    assert (out / "fp_breakdown.png").exists()

    # a rerun with the same settings resumes (nothing retrained)
    again = bench.run_benchmark(settings, gt, clicks, out, log=lambda _: None)
    assert again["runs"] == saved["runs"]


def test_parallel_jobs_give_the_same_runs_as_one_process(tmp_path: Path) -> None:
    gt, clicks = _inputs(tmp_path, CLICKS_A)
    settings = _settings(gt, clicks, ("weak", "bg-click"))
    one = bench.run_benchmark(settings, gt, clicks, tmp_path / "one", log=lambda _: None)
    two = bench.run_benchmark(settings, gt, clicks, tmp_path / "two", log=lambda _: None, jobs=2)

    def strip(runs):  # timings differ, everything else must not
        return [{k: v for k, v in r.items() if not k.endswith("_s")} for r in runs]

    assert strip(two["runs"]) == strip(one["runs"])


def test_plateau_exit_is_the_first_epoch_below_the_level() -> None:
    chance = bench.CHANCE
    curve = [{"epoch": e, "video_supp": v} for e, v in enumerate([3.1, 3.05, 2.8, 2.7, 1.0], 1)]
    # 0.9 * ln 21 = 2.740: epoch 3 (2.8) is still above it, epoch 4 (2.7) is the first below
    assert bench.plateau_exit(curve) == 4
    assert bench.plateau_exit(curve[:3]) is None
    assert bench.plateau_exit(curve, chance=1.2) == 5  # level 1.08: only 1.0 is below
    assert chance == pytest.approx(3.0445, abs=1e-4)


def test_another_click_file_is_a_drop_in(tmp_path: Path) -> None:
    gt, clicks_a = _inputs(tmp_path, CLICKS_A)
    clicks_b = tmp_path / "annotator_b.csv"
    clicks_b.write_text(
        "\n".join([HEADER, *(f"{v},{v}.mp4,{BG},{t},{t},1,1" for v, t in CLICKS_B)]) + "\n"
    )
    sims = {}
    for name, clicks in (("a", clicks_a), ("b", clicks_b)):
        settings = _settings(gt, clicks, ("bg-click",))
        logs: list[str] = []
        bench.ensure_sim(settings, gt, clicks, 0, tmp_path / name, logs.append)
        sims[name] = tmp_path / name / "sim-seed0"
    for vid in ("video_validation_0000001", "video_validation_0000003"):
        a = np.load(sims["a"] / "val" / f"{vid}.npz")["point_label"]
        b = np.load(sims["b"] / "val" / f"{vid}.npz")["point_label"]
        assert (a == 2).any() != (b == 2).any()  # each file's clicks, nobody else's


def test_upper_bound_targets_follow_the_gt() -> None:
    item = bench.VideoItem(
        name="v",
        features=np.zeros((10, 4), dtype=np.float32),
        labels=np.zeros(2, dtype=np.float32),
        fps=30.0,
        duration=10.0,
        frame_num=300,
        gt_segments=[(2.0, 5.0, 1), (3.0, 4.0, 0)],
    )
    # snippet centres 0.5, 1.5, ...; the shorter instance wins where they overlap
    assert bench.snippet_targets(item, 2).tolist() == [2, 2, 1, 0, 1, 2, 2, 2, 2, 2]


def test_quick_and_full_defaults() -> None:
    parser = bench.build_parser()
    args = parser.parse_args(["--quick"])
    assert args.quick and args.hidden == 128 and args.T == 375
    assert parser.parse_args([]).filter_norm == "none"  # the published filter by default
    with pytest.raises(SystemExit):
        parser.parse_args(["--modes", "clicks"])


def test_zero_loss_ablation_switches_the_term_off(tmp_path: Path) -> None:
    gt, clicks = _inputs(tmp_path, CLICKS_A)
    settings = replace(_settings(gt, clicks, ("bg-click",)), zero_losses=("click",))
    assert settings.key()["zero_losses"] == ["click"]
    assert "zero_losses" not in _settings(gt, clicks, ("bg-click",)).key()  # old results resume
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
    args = bench.build_parser().parse_args(["--zero-loss", "click", "--zero-loss", "embedding"])
    assert args.zero_losses == ["click", "embedding"]


def test_sim_param_overrides_reach_the_sim_and_the_results_identity(tmp_path: Path) -> None:
    assert bench.parse_sim_params(["app_class_norm=3", "camera_norm=3.5"]) == (
        ("app_class_norm", 3.0),
        ("camera_norm", 3.5),
    )
    for bad in (["nope=1"], ["app_class_norm"], ["app_class_norm=x"], ["T=10"]):
        with pytest.raises(SystemExit):
            bench.parse_sim_params(bad)
    gt, clicks = _inputs(tmp_path, CLICKS_A)
    default = _settings(gt, clicks, ("bg-click",))
    first = replace(default, sim_overrides=(("app_class_norm", 3.0),))
    assert default.key()["sim_params"]["app_class_norm"] == SimParams().app_class_norm
    assert first.key()["sim_params"]["app_class_norm"] == 3.0
    assert default.key() != first.key()  # results of one sim never resume into the other
    logs: list[str] = []
    out = bench.ensure_sim(first, gt, clicks, 0, tmp_path, logs.append)
    cfg = json.loads((out / "sim_config.json").read_text())
    assert cfg["params"]["app_class_norm"] == 3.0
    bench.ensure_sim(first, gt, clicks, 0, tmp_path, logs.append)
    assert logs[-1].startswith("reusing")
    bench.ensure_sim(default, gt, clicks, 0, tmp_path, logs.append)  # changed -> regenerated
    assert logs[-1].startswith("  ") and logs[-2].startswith("generating")


def test_dead_start_options_reach_the_trainer_and_only_a_changed_key() -> None:
    gt = clicks = Path(__file__)  # only hashed
    default = _settings(gt, clicks, ("bg-click",))
    assert "init_scaling" not in default.key()  # results stored before the option stay valid
    scaled = replace(default, init_scaling="width")
    assert scaled.key()["init_scaling"] == "width"
    items = [type("Item", (), {"features": np.zeros((4, 16), np.float32)})()]
    _, config = bench.configs("weak", 0, scaled, items, 3, "cpu")  # type: ignore[arg-type]
    assert config.init_scaling == "width"
    _, config = bench.configs("weak", 0, default, items, 3, "cpu")  # type: ignore[arg-type]
    assert config.init_scaling == "none"
    args = bench.build_parser().parse_args(["--init-scaling", "width"])
    assert args.init_scaling == "width"
    assert bench.build_parser().parse_args([]).init_scaling == "none"
    assert "click_rampup_epochs" not in default.key()
    ramped = replace(default, click_rampup_epochs=2)
    assert ramped.key()["click_rampup_epochs"] == 2
    _, config = bench.configs("bg-click", 0, ramped, items, 3, "cpu")  # type: ignore[arg-type]
    assert config.click_rampup_epochs == 2
    args = bench.build_parser().parse_args(["--click-rampup-epochs", "2"])
    assert args.click_rampup_epochs == 2
    assert bench.build_parser().parse_args([]).click_rampup_epochs == 0
