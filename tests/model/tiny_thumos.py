"""A tiny THUMOS14-like GT (3 training + 2 test videos, 2 classes) and click CSV writer, for
the smoke tests of the benchmarks (tests/bench/) and of sim-based server tests."""

from __future__ import annotations

import json
from pathlib import Path

CLASSES = ["Jump", "Throw"]
BG = "20,background_background"
HEADER = "URLID,URL,TagID,Tag,Start,End,Time,State"


def _video(subset: str, duration: float, segments: list[tuple[float, float, str]]) -> dict:
    return {
        "subset": subset,
        "fps": 30,
        "duration": duration,
        "annotations": [{"segment": [s, e], "label": lab} for s, e, lab in segments],
    }


GT = {
    "database": {
        "video_validation_0000001": _video(
            "validation", 60.0, [(10, 20, "Jump"), (40, 44, "Jump")]
        ),
        "video_validation_0000002": _video("validation", 50.0, [(5, 12, "Throw")]),
        "video_validation_0000003": _video("validation", 40.0, [(20, 30, "Throw"), (2, 6, "Jump")]),
        "video_test_0000001": _video("test", 60.0, [(30, 40, "Jump")]),
        "video_test_0000002": _video("test", 45.0, [(10, 16, "Throw")]),
    },
    "activity_list": CLASSES,
}


def write_inputs(folder: Path, clicks: list[tuple[str, float]]) -> tuple[Path, Path]:
    """``folder/gt.json`` (GT above) and ``folder/clicks.csv`` (COIN layout, BOM, one
    background click per (video, time))."""
    gt, csv = folder / "gt.json", folder / "clicks.csv"
    gt.write_text(json.dumps(GT))
    rows = [f"{v},{v}.mp4,{BG},{t},{t},1,1" for v, t in clicks]
    csv.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8-sig")
    return gt, csv
