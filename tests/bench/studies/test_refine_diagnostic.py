"""bench.studies.refine_diagnostic on a tiny click-losses folder: the four ways are scored,
and 'second stage' equals what the benchmark's +refine arm stored for the same seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import click_losses as cl
from bench.studies import refine_diagnostic as rd
from tests.bench.test_click_losses import CLICKS, _settings
from tests.model.tiny_thumos import write_inputs


def test_refine_diagnostic_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, clicks = write_inputs(tmp_path, CLICKS)
    out = tmp_path / "out"
    arms = ["bg-click:published", "bg-click:published+refine"]
    payload = cl.run_benchmark(_settings(gt, clicks), arms, [3], [0], gt, clicks, out, 1, print)
    assert rd.main(["--out-dir", str(out), "--version", "3", "--seeds", "0"]) == 0
    rows = json.loads((out / "refine_diagnostic.json").read_text())
    (refined,) = [r for r in payload["runs"] if r["arm"] == "bg-click:published+refine"]
    (plain,) = [r for r in payload["runs"] if r["arm"] == "bg-click:published"]
    assert rows["0"]["second stage"] == pytest.approx(refined["heldout"]["mAP"]["0.5"])
    assert rows["0"]["first stage"] == pytest.approx(plain["heldout"]["mAP"]["0.5"])
    assert "| 0 |" in capsys.readouterr().out
