"""The dead-start studies' commands still run: the probes (a variant's per-epoch line, the
one-step logit table) on a tiny generated sim, and the curve plot from result folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.lab.sims import ensure_sim
from bench.studies import deadstart_probes, plot_deadstart
from tests.bench.tiny import tiny_settings
from tests.model.tiny_thumos import write_inputs


@pytest.fixture
def sim_dir(tmp_path: Path) -> Path:
    gt, clicks = write_inputs(tmp_path, [("video_validation_0000001", 2.0)])
    return ensure_sim(tiny_settings(gt, clicks), gt, clicks, 0, tmp_path, lambda _: None)


def test_a_probe_prints_one_line_per_epoch(
    sim_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--sim", str(sim_dir), "--mode", "bg-click", "--epochs", "2", "--hidden", "8"]
    assert deadstart_probes.main([*args, "--variant", "z+width+ramp=2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [x.split()[:4] for x in lines] == [
        ["z+width+ramp=2", "bg-click", "epoch", "1"],
        ["z+width+ramp=2", "bg-click", "epoch", "2"],
    ]
    assert all("video_supp=" in x and "mean_a=" in x for x in lines)
    with pytest.raises(SystemExit, match="unknown variant part 'nonsense'"):
        deadstart_probes.parse_variant("z+nonsense")


def test_the_logit_step_table(sim_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert deadstart_probes.main(["--sim", str(sim_dir), "--logit-step", "8", "16"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("width init | initial logit RMS | step of: classifier")
    assert [x.split()[:2] for x in lines[1:]] == [
        [w, i] for w in ("8", "16") for i in ("none", "width", "winit4")
    ]


def test_the_curve_plot_from_result_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def folder(name: str, supp: list[float]) -> Path:
        curve = [
            {"epoch": e, "video_supp": v, "holdout_mAP_0.1_0.7": 0.1 * e}
            for e, v in enumerate(supp, 1)
        ]
        runs = [{"mode": m, "seed": 0, "curve": curve} for m in ("weak", "bg-click")]
        runs.append({"mode": "upper-bound", "seed": 0, "curve": curve})
        path = tmp_path / name
        path.mkdir()
        (path / "supervision.json").write_text(json.dumps({"runs": runs}))
        return path

    before, after = folder("before", [3.1, 3.05, 3.0]), folder("after", [3.0, 2.5, 1.0])
    out = tmp_path / "img" / "curves.png"
    assert plot_deadstart.main([str(before), str(after), "--out", str(out)]) == 0
    assert out.stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "published seed 0 bg-click     plateau exit > 3" in printed
    assert "fix       seed 0 weak         plateau exit 2" in printed
    assert "upper-bound" not in printed
    with pytest.raises(SystemExit):  # three folders need their labels
        plot_deadstart.main([str(before), str(after), str(before), "--out", str(out)])
