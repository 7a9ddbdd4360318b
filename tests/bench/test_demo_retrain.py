"""``python -m bench.demo_retrain`` (docs/research/retrain-demo.md) still runs end to end:
generated clips through the API and the worker, a simulated annotator, one training job per
mode, each scored on its held-out videos — tiny here (4 clips, cheap features, 1 epoch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import demo_retrain


@pytest.mark.slow
def test_the_command_on_four_clips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "table.md"
    args = ["--videos", "4", "--epochs", "1", "--seeds", "0", "--hidden", "8"]
    args += ["--extractor", "tiny-stats", "--recipe", "published", "--out", str(out)]
    assert demo_retrain.main(args) == 0
    table = out.read_text().splitlines()
    assert table[0].startswith("Demo set: 4 generated clips, ")
    assert "recipe published, hidden 8, 1 epochs" in table[0]
    rows = [x for x in table if x.startswith("| ") and "supervision" not in x and "---" not in x]
    assert [r.split(" | ")[0] for r in rows] == ["| weak", "| action-click", "| bg-click", "| both"]
    for row in rows:  # mean ± std of one seed, in points
        for cell in row.strip("| ").split(" | ")[1:]:
            mean, sd = (float(x) for x in cell.split(" ± "))
            assert 0.0 <= mean <= 100.0 and sd == 0.0
    assert table[-1] == f"Command: `python -m bench.demo_retrain {' '.join(args)}`"
    err = capsys.readouterr().err
    assert "4 clips processed" in err and "seed 0         both: held-out mAP@0.5" in err
