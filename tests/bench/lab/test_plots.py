"""bench.lab.plots: every plot of the supervision benchmark is written from stored runs."""

from __future__ import annotations

from pathlib import Path

from bench.lab import plots
from tests.bench.lab.test_reports import _fp, _run


def test_the_plots_are_written(tmp_path: Path) -> None:
    curve = [
        {"epoch": e, "video_supp": v, "holdout_mAP_0.1_0.7": 0.1 * e}
        for e, v in enumerate([3.1, 2.0], 1)
    ]
    runs = [
        _run(m, s, 0.3 + s / 100, 0.3, curve=curve, fp_analysis=_fp(10, 20, 0.5))
        for m in ("weak", "bg-click", "upper-bound")
        for s in (0, 1)
    ]
    written = plots.plot_results({"runs": runs}, tmp_path)
    assert [p.name for p in written] == ["map_per_tiou.png", "curves.png"]
    path = plots.plot_fp({"runs": runs}, tmp_path)
    assert path == tmp_path / "fp_breakdown.png"
    assert all(p.stat().st_size > 1000 for p in [*written, path])
    assert plots.plot_fp({"runs": [_run("weak", 0, 0.3, 0.3)]}, tmp_path) is None
