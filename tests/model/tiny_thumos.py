"""A tiny THUMOS14-like GT (3 training + 2 test videos, 2 classes) and click CSV writer, for
the smoke tests of the benchmark scripts (bench/supervision.py, guided.py, click_qa.py,
suggest_rules.py), and their Settings."""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
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


def bench_settings(
    settings_cls: type,
    gt: Path,
    clicks: Path,
    *,
    modes: tuple[str, ...] = ("weak", "bg-click"),
    epochs: int = 2,
):
    """The smoke tests' ``bench/supervision.py`` Settings (``settings_cls``: that module's
    ``Settings``; bench/ is not a package): 1 seed, D = 16, T = 40, hidden 8."""
    return settings_cls(
        seeds=(0,),
        modes=tuple(modes),
        feature_dim=16,
        T=40,
        limit=None,
        hidden=8,
        aux_hidden=8,
        filter_norm="topk",
        standardize=True,
        epochs=epochs,
        batch_size=2,
        lr=1e-3,
        holdout=0.34,
        gt_sha=hashlib.sha256(gt.read_bytes()).hexdigest(),
        clicks_sha=hashlib.sha256(clicks.read_bytes()).hexdigest(),
    )


def load_bench(name: str):  # type: ignore[no-untyped-def]
    """The benchmark script ``bench/<name>.py`` as a module. bench/ is not a package: it goes
    on ``sys.path`` and the script is imported by name, so spawned ``--jobs`` workers find it
    too."""
    bench_dir = str(Path(__file__).resolve().parents[2] / "bench")
    if bench_dir not in sys.path:
        sys.path.insert(0, bench_dir)
    return importlib.import_module(name)
