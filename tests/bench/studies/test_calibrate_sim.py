"""The sim-calibration study (``python -m bench.studies.calibrate_sim``) still runs: on a tiny
sim, weak and the upper bound per candidate, held-out training videos only, the rule's verdict."""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path

import pytest

from bench.studies import calibrate_sim
from tests.bench.tiny import LEGACY, tiny_args
from tests.model.tiny_thumos import write_inputs


def test_the_verdict_names_each_failed_condition() -> None:
    args = Namespace(min_bg_share=0.5, min_upper=0.5, max_ratio=0.6)
    shares = {"background": 0.6, "localization": 0.3, "confusion": 0.1}
    weak = {"fp_share_at_0.5": shares, "mAP@0.5": 0.25}
    assert calibrate_sim.verdict(weak, {"mAP@0.5": 0.5}, args) == []
    failed = calibrate_sim.verdict(
        {"fp_share_at_0.5": {**shares, "background": 0.2}, "mAP@0.5": 0.4},
        {"mAP@0.5": 0.45},
        args,
    )
    assert failed == [
        "background errors do not dominate weak's false positives",
        "upper bound below 0.50 mAP@0.5",
        "weak above 0.60 x the upper bound",
    ]


def test_the_command_on_a_tiny_sim(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, clicks = write_inputs(tmp_path, [("video_validation_0000001", 2.0)])
    out = tmp_path / "calibration"
    args = tiny_args(gt, clicks, out, epochs=1) + LEGACY
    assert calibrate_sim.main([*args, "--grid", "lookalike_rate_per_min=0,4"]) == 0
    result = json.loads((out / "calibration.json").read_text())
    assert result["grid"] == "lookalike_rate_per_min"
    assert [c["value"] for c in result["candidates"]] == [0.0, 4.0]
    for c in result["candidates"]:
        assert c["weak"]["mode"] == "weak" and c["upper"]["mode"] == "upper-bound"
        assert c["weak"]["held_out_videos"] == c["upper"]["held_out_videos"] >= 1
    table = (out / "calibration.md").read_text().splitlines()
    assert table[0].startswith("| lookalike_rate_per_min | weak mAP@0.5 |") and len(table) == 4
    assert (out / "lookalike_rate_per_min=4" / "sim-seed0" / "sim_config.json").exists()
    assert "smallest value satisfying the rule" in capsys.readouterr().out
