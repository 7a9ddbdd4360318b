"""bench.lab.reports: mean ± std and the tables (mAP per tIoU, paired margins, plateau exit,
DETAD summaries) by hand from made-up runs."""

from __future__ import annotations

from typing import Any

import pytest

from bench.lab import reports
from bench.lab.training import TIOUS


def _run(mode: str, seed: int, m05: float, avg: float, **extra: Any) -> dict[str, Any]:
    mAP = {f"{t:g}": m05 + 0.1 * (0.5 - t) for t in TIOUS}
    return {
        "mode": mode,
        "seed": seed,
        "test": {"mAP": mAP, "avg_0.1_0.7": avg, "avg_0.3_0.7": avg - 0.01},
        **extra,
    }


def test_mean_std_is_in_points_with_the_sample_std() -> None:
    assert reports.mean_std([0.30, 0.34, 0.32]) == "32.0 ± 2.0"
    assert reports.mean_std([0.305]) == "30.5"


def test_the_mAP_table_and_the_paired_margins_by_hand() -> None:
    runs = [
        _run("weak", 0, 0.30, 0.33),
        _run("weak", 1, 0.34, 0.35),
        _run("bg-click", 0, 0.33, 0.34),
        _run("bg-click", 1, 0.35, 0.37),
        _run("action-click", 1, 0.40, 0.41),  # only seed 1
    ]
    table = reports.markdown_table(runs, ["weak", "bg-click", "both"])
    lines = table.splitlines()
    assert lines[0].startswith("| supervision | seeds | @0.1 |") and len(lines) == 4
    assert lines[2].startswith("| weak | 0,1 | ") and "| 32.0 ± 2.8 |" in lines[2]
    assert "| 34.0 ± 1.4 |" in lines[3]  # bg-click @0.5
    margins = reports.margins_table(runs).splitlines()
    bg_weak = next(x for x in margins if x.startswith("| bg-click − weak |"))
    # per seed +3.0 and +1.0 points: mean 2.0, std 1.4; avg +1.0 and +2.0
    assert bg_weak == "| bg-click − weak | 0,1 | 2.0 ± 1.4 | 1.5 ± 0.7 | +3.0, +1.0 |"
    bg_action = next(x for x in margins if x.startswith("| bg-click − action-click |"))
    assert bg_action == "| bg-click − action-click | 1 | -5.0 | -4.0 | -5.0 |"  # paired seeds


def test_plateau_exit_is_the_first_epoch_below_the_level() -> None:
    chance = reports.CHANCE
    curve = [{"epoch": e, "video_supp": v} for e, v in enumerate([3.1, 3.05, 2.8, 2.7, 1.0], 1)]
    # 0.9 * ln 21 = 2.740: epoch 3 (2.8) is still above it, epoch 4 (2.7) is the first below
    assert reports.plateau_exit(curve) == 4
    assert reports.plateau_exit(curve[:3]) is None
    assert reports.plateau_exit(curve, chance=1.2) == 5  # level 1.08: only 1.0 is below
    assert chance == pytest.approx(3.0445, abs=1e-4)
    runs = [
        {"mode": "weak", "seed": 0, "curve": curve},
        {"mode": "weak", "seed": 1, "curve": curve[:3]},
    ]
    assert reports.plateau_table(runs).splitlines()[-1] == "| weak | s0: 4, s1: > 3 |"


def _fp(tp: int, fp: int, bg: float) -> dict[str, Any]:
    shares = dict.fromkeys(reports.FP_TYPES, (1 - bg) / 4)
    shares["background"] = bg
    profile = {"true_positive": tp // 2, **dict.fromkeys(reports.FP_TYPES, 3)}
    return {"0.5": {"true_positive": tp, "false_positive": fp, "share_of_fp": shares},
            "profile_1G": profile}  # fmt: skip


def test_the_false_positive_tables_by_hand() -> None:
    runs = [
        _run("weak", 0, 0.3, 0.3, fp_analysis=_fp(100, 200, 0.5)),
        _run("weak", 1, 0.3, 0.3, fp_analysis=_fp(120, 100, 0.7)),
    ]
    line = reports.fp_table(runs).splitlines()[-1]
    # TP 110, FP 150, background errors mean(100, 70) = 85, background share 60.0 ± 14.1
    assert line.startswith("| weak | 0,1 | 110 | 150 | 85 | 60.0 ± 14.1 | 10.0 ± 3.5 |")
    assert reports.profile_table(runs).splitlines()[-1] == "| weak | 0,1 | 55 | 3 | 3 | 3 | 3 | 3 |"
